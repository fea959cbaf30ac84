"""Non-neural models of Py-Feat's Detectorv1: the HOG feature pipeline and the XGBoost / linear
SVM action-unit and emotion classifiers read from the hub's ``.skops`` files as plain data.

Modules: :mod:`~featx.classic.hog` (alignment, mask, HOG), :mod:`~featx.classic.skops`
(reading a skops archive without importing what it names), :mod:`~featx.classic.models`
(scaler + PCA per face region and the per-label classifiers).
"""

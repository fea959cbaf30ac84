"""Figures from a featx Dataset, and faces drawn from AU values.

Time series (:mod:`featx.plot.timeseries`), detections over the video frame
(:mod:`featx.plot.detections`) and faces rendered from values (:mod:`featx.plot.face`). Every
function works on any valid Dataset, from a detector or a reader; none selects a matplotlib
backend. The plots draw what the :mod:`featx.analysis` functions compute (``smooth=k`` is
:func:`featx.analysis.smooth`) and check their input with the same checks. Importing
``featx.plot`` loads neither the model hub nor the video reader: a function that needs one
imports it on first use.

Examples
--------
>>> import featx.plot
>>> featx.plot.predict_face_mesh({"AU12": 1.0}).shape
(478, 3)
"""

from featx.plot.animate import animate_face
from featx.plot.detections import plot_detections
from featx.plot.epochs import plot_epochs
from featx.plot.face import plot_face, plot_face_mesh
from featx.plot.face_model import FACE_MAPS, load_face_map, predict_face_mesh, predict_landmarks
from featx.plot.timeseries import plot_aus, plot_bars, plot_emotions

__all__ = [
    "FACE_MAPS",
    "animate_face",
    "load_face_map",
    "plot_aus",
    "plot_bars",
    "plot_detections",
    "plot_emotions",
    "plot_epochs",
    "plot_face",
    "plot_face_mesh",
    "predict_face_mesh",
    "predict_landmarks",
]

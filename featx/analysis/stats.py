"""Statistics on a featx Dataset (kept for existing imports; the code lives in its own modules).

- :mod:`featx.analysis.regression`: :func:`regress`, :func:`regress_mixed`.
- :mod:`featx.analysis.ttests`: :func:`ttest_1samp`, :func:`ttest_ind`.
- :mod:`featx.analysis.multivariate`: :func:`isc`, :func:`distance`, :func:`decompose`.
- :mod:`featx.analysis.descriptive`: :func:`summary`, :func:`occurrence`.

Import them from :mod:`featx.analysis`.
"""

from featx.analysis.descriptive import SUMMARY_STATS, occurrence, summary
from featx.analysis.multivariate import CORRELATIONS, DECOMPOSITIONS, decompose, distance, isc
from featx.analysis.regression import regress, regress_mixed
from featx.analysis.ttests import ttest_1samp, ttest_ind

__all__ = [
    "CORRELATIONS",
    "DECOMPOSITIONS",
    "SUMMARY_STATS",
    "decompose",
    "distance",
    "isc",
    "occurrence",
    "regress",
    "regress_mixed",
    "summary",
    "ttest_1samp",
    "ttest_ind",
]

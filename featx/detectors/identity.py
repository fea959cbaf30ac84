"""The detectors with an identity stage (``featx.Detector`` and ``featx.Detectorv2``)."""

from __future__ import annotations

from typing import Any

import xarray as xr

from featx.detectors.base import BaseDetector


class IdentityDetector(BaseDetector):
    """A detector with an identity stage: ``detect`` also takes ``face_identity_threshold``."""

    face_identity_threshold: float | None = 0.8

    def detect(
        self,
        inputs: Any,
        *,
        face_detection_threshold: float | None = None,
        face_identity_threshold: float | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        """Detect faces and run every stage; see :meth:`featx.detectors.BaseDetector.detect`.

        ``face_detection_threshold`` and ``face_identity_threshold`` (0..1) replace the
        detector's values for this call only.

        Examples
        --------
        A toy detector with an identity stage (``featx.Detector`` and ``Detectorv2`` are such):
        the threshold given to one call leaves the detector's own:

        >>> import numpy as np
        >>> class NoFaces(IdentityDetector):
        ...     def process_batch(self, images, face_boxes=None):
        ...         return [{} for _ in images]
        >>> det = NoFaces(device="cpu")
        >>> ds = det.detect(np.zeros((2, 8, 8, 3), np.uint8), face_identity_threshold=0.5,
        ...                 progress=False)
        >>> ds.sizes["frame"], det.face_identity_threshold
        (2, 0.8)
        """
        run = self.with_options(face_identity_threshold=face_identity_threshold)
        return BaseDetector.detect(
            run, inputs, face_detection_threshold=face_detection_threshold, **kwargs
        )

import json

import numpy as np

from featx import schema


def make():
    return schema.from_frames(
        [{"face_rect": np.array([[1.0, 2, 3, 4]]), "aus": np.full((1, 20), 0.25)}],
        ["a.png"],
        [0],
        [np.nan],
        var_attrs={"aus": {"kind": "probability"}},
        attrs={
            "detector": "Detector",
            "models": json.dumps({"face": {"name": "retinaface"}, "au": {"name": "xgb_au"}}),
        },
    )


def test_repr_lists_variables_and_models():
    text = repr(make().feat)
    assert "1 frames x 1 face slots" in text
    assert "face_rect, aus" in text
    assert "Detector" in text and "retinaface" in text and "xgb_au" in text


def test_accessor_keeps_no_state_and_never_mutates(tmp_path):
    ds = make()
    before = ds.copy(deep=True)
    ds.feat.validate()
    ds.feat.save(tmp_path / "x.nc")
    fex = ds.feat.to_fex()
    assert list(fex["AU12"]) == [0.25]
    assert ds.identical(before)
    assert vars(ds.feat) == {"_ds": ds}

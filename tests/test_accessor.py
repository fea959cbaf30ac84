import importlib
import inspect
import json
import pydoc
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from analysis_data import STUDY, annotated  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from widget_data import dataset as widget_dataset  # noqa: E402
from widget_data import write_video  # noqa: E402

from featx import analysis, schema  # noqa: E402
from featx.accessor import METHODS, FeatAccessor  # noqa: E402
from featx.widgets import Compare, Viewer  # noqa: E402


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


# --- every method forwards to its function ------------------------------------------------------

EVENTS = pd.DataFrame({"onset": [0.2, 0.6], "duration": [0.2, 0.2], "trial_type": ["joke", "cue"]})

#: method -> (which Dataset, positional args, keyword args); a callable arg is built from them.
CASES = {
    "validate": ("session", (), {}),
    "save": ("detections", (lambda d: d["tmp"] / "x.nc",), {}),
    "to_fex": ("detections", (), {}),
    "to_tidy": ("session", ("valence",), {}),
    "annotate": ("plain", (STUDY,), {}),
    "smooth": ("session", ("mean",), {"window": 3}),
    "resample": ("session", (), {"hz": 5}),
    "baseline": ("session", ("mean",), {}),
    "clean": ("session", (), {"variables": "aus"}),
    "epochs": ("session", (EVENTS, -0.08, 0.2), {}),
    "design_matrix": ("session", (EVENTS,), {}),
    "regress": ("one_face", (lambda d: d["design"], "aus"), {}),
    "regress_mixed": ("one_face", (lambda d: d["design"], "aus"), {"groups": "subject"}),
    "regress_two_level": ("one_face", (lambda d: d["design"], "aus"), {"by": "subject"}),
    "ttest_1samp": ("session", ("aus",), {"popmean": 0.3}),
    "ttest_ind": ("session", ("aus",), {"groups": "condition"}),
    "isc": ("session", ("aus",), {}),
    "decompose": ("session", ("aus",), {"n_components": 2}),
    "distance": ("session", ("aus",), {"metric": "cityblock"}),
    "summary": ("session", ("aus",), {}),
    "occurrence": ("session", ("aus",), {"threshold": 0.3}),
    "wavelet": ("session", (2.0,), {"num_cyc": 2, "variables": "valence"}),
    "multi_wavelet": ("session", (0.5, 4.0, 3), {"variables": "valence"}),
    "boft": ("session", ("aus", 0.5, 4.0, 3), {}),
    "box_jumps": ("session", (), {"std": 2.0}),
    "quality": ("session", (), {}),
    "quality_report": ("session", (), {}),
    "plot_aus": ("session", ("AU12",), {}),
    "plot_emotions": ("session", (), {}),
    "plot_bars": ("detections", (0,), {}),
    "plot_epochs": ("epochs", ("aus", "AU12"), {}),
    "plot_detections": ("detections", (0,), {}),
    "view": ("detections", (), {"width": 200}),
    "compare": ("detections", (lambda d: d["detections"],), {"width": 200}),
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accessor")
    session = annotated(lengths=(30, 30, 30, 30))
    one_face = session.sel(face=[0], au=["AU06", "AU12"])
    return {
        "tmp": tmp,
        "session": session,
        "plain": session.drop_vars(["subject", "condition"]),
        "one_face": one_face,
        "design": analysis.design_matrix(one_face, EVENTS),
        "epochs": analysis.epochs(session, EVENTS, -0.08, 0.2),
        "detections": widget_dataset(write_video(tmp / "clip.avi", 6), 6),
    }


def _pixels(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return out


def _assert_same(got, expected) -> None:
    """``got`` (through ds.feat) and ``expected`` (the function called directly) are equal."""
    assert type(got) is type(expected)
    if isinstance(expected, xr.Dataset | xr.DataArray):
        xr.testing.assert_identical(got, expected)
    elif isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif isinstance(expected, Axes | Figure):
        a, b = (x.figure if isinstance(x, Axes) else x for x in (got, expected))
        np.testing.assert_array_equal(_pixels(a), _pixels(b))
    elif isinstance(expected, Compare):
        for mine, theirs in zip(got.viewers, expected.viewers, strict=True):
            _assert_same(mine, theirs)
    elif isinstance(expected, Viewer):
        assert got.ds.identical(expected.ds)
        assert got.frame_image.value == expected.frame_image.value
        assert got.series_image.value == expected.series_image.value
        for name, image in expected.bar_images.items():
            assert got.bar_images[name].value == image.value
    else:
        assert got == expected


def test_every_method_has_a_case():
    public = {n for n in dir(FeatAccessor) if not n.startswith("_")}
    assert public == set(METHODS) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_method_forwards_to_its_function(datasets, name):
    key, args, kwargs = CASES[name]
    ds = datasets[key]
    args = tuple(a(datasets) if callable(a) else a for a in args)
    function = getattr(importlib.import_module(METHODS[name]), name)
    before = ds.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the mixed model on random data
        expected = function(ds, *args, **kwargs)
        got = getattr(ds.feat, name)(*args, **kwargs)
    _assert_same(got, expected)
    assert ds.identical(before)
    # what help() and Jupyter's shift-tab show: the function's parameters less the Dataset
    full = inspect.signature(function)
    method = getattr(ds.feat, name)
    assert inspect.signature(method) == full.replace(parameters=list(full.parameters.values())[1:])
    assert list(full.parameters)[0] in ("ds", "obj", "epochs", "ds_a")
    assert inspect.cleandoc(function.__doc__) in method.__doc__
    assert method.__name__ == name and method.__wrapped__ is function


def test_methods_show_their_parameters_in_help():
    text = pydoc.render_doc(make().feat.regress, renderer=pydoc.plaintext)
    assert "regress(design" in text and "intercept" in text and "(*args" not in text
    assert "featx.analysis.regress(ds, ...)" in text


def test_import_featx_loads_no_analysis_or_plot_until_a_method_is_used():
    code = (
        "import sys, numpy as np, featx; "
        "ds = featx.schema.from_frames([{}], ['a.png'], [0], [np.nan]); "
        "accessor = ds.feat; print(sorted(m for m in ('featx.analysis', 'featx.plot', "
        "'featx.widgets', 'matplotlib') if m in sys.modules)); "
        "accessor.quality; print('featx.analysis' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True"]


def test_a_method_whose_extra_is_missing_still_looks_up(monkeypatch):
    """Without ipywidgets, ds.feat.view exists (dir, hasattr, help) and says what to install."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    monkeypatch.delitem(sys.modules, "featx.widgets", raising=False)
    ds = make()
    assert hasattr(ds.feat, "view") and "view" in dir(ds.feat)
    assert "pip install 'featx[widgets]'" in ds.feat.view.__doc__
    with pytest.raises(ImportError, match=r"pip install 'featx\[widgets\]'"):
        ds.feat.view()

"""Packaging promises: conda and pip list the same packages, the import stays lazy."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells some packages differently from PyPI.
CONDA_NAMES = {"pytorch": "torch", "distributed": "dask"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pip_side |= {_name(r) for r in extra}
    conda_side = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"\s+- ([A-Za-z0-9_.-]+[^#]*)$", line)
        if m and m.group(1).strip() not in ("pip", "pip:", "-e ."):
            name = _name(m.group(1))
            conda_side.add(CONDA_NAMES.get(name, name))
    conda_side -= {"python", "pip", "-e"}
    assert conda_side == pip_side


def test_import_is_lazy():
    """``import featx`` loads neither torch, the hub nor the scale extra (dask, distributed,
    zarr), not even through ``featx.detect_many`` being listed (its time:
    benchmarks/bench_import.py)."""
    names = ["torch", "featx.hub", "dask", "distributed", "zarr", "featx.study"]
    listed = "'detect_many' in dir(featx)"
    code = f"import sys, featx; {listed}; print(*[m in sys.modules for m in {names}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * len(names)  # each loads on first use


def test_version_and_cli_entry_point():
    import featx
    from featx import cli

    assert re.fullmatch(r"\d+\.\d+\.\d+.*", featx.__version__)
    out = subprocess.run(
        [sys.executable, "-m", "featx.cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"featx {featx.__version__}"
    assert cli.build_parser().prog == "featx"


def test_show_versions_lists_what_a_bug_report_needs(capsys):
    import featx

    featx.show_versions()
    out = capsys.readouterr().out
    lines = dict(line.rsplit("  ", 1) for line in out.splitlines())
    lines = {k.strip(): v for k, v in lines.items()}
    assert lines["featx"].strip() == featx.__version__
    import numpy
    import torch

    assert lines["numpy"].strip() == numpy.__version__
    assert torch.__version__.startswith(lines["torch"].strip())
    assert lines["torch threads"].strip() == str(torch.get_num_threads())
    for key in ("python", "cuda", "xarray", "dask", "FEATX_MODEL_DIR", "HF_HUB_OFFLINE"):
        assert key in lines, key
    assert "model cache (HF_HOME)" in out

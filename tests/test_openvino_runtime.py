"""featx.nn.openvino_runtime: OpenVINO gives the torch modules' outputs, and caches its graphs."""

import os

import numpy as np
import openvino
import pytest
import torch

from featx import hub
from featx.nn import openvino_runtime as ovr


def _net(model_id: str) -> torch.nn.Module:
    card = hub.card(model_id)
    return card.loader(card, card.fetch()).eval()


@pytest.mark.parametrize(
    ("model_id", "shape", "atol"),
    [
        ("facemesh_v2", (256, 256, 3), 1e-3),  # crop pixels, outputs up to ~250
        ("blazeface_full", (192, 192, 3), 1e-3),
        ("mini_xception", (64, 64, 1), 1e-4),
    ],
)
def test_same_outputs_as_torch_for_any_batch(model_id, shape, atol):
    net = _net(model_id)
    compiled = ovr.OpenVINOModule(net, torch.zeros(1, *shape), threads=1)
    for batch in (1, 3):
        x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.inference_mode():
            want = net(x)
        got = compiled(x)
        want, got = (w if isinstance(w, tuple) else (w,) for w in (want, got))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.dtype == torch.float32
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=0, atol=atol)


def test_computes_in_float32():
    compiled = ovr.OpenVINOModule(_net("mini_xception"), torch.zeros(1, 64, 64, 1))
    hint = compiled._compiled.get_property("INFERENCE_PRECISION_HINT")
    assert str(hint) in ("<Type: 'float32'>", "f32")


def test_converted_graph_is_cached_by_weights(monkeypatch):
    net = _net("mini_xception")
    example = torch.zeros(1, 64, 64, 1)
    before = set(ovr.cache_dir().glob("MiniXception-*.xml"))
    ovr.OpenVINOModule(net, example)
    written = set(ovr.cache_dir().glob("MiniXception-*.xml"))
    assert len(written - before) <= 1 and written  # converted now or by an earlier test

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(openvino, "convert_model", no_conversion)
    x = torch.rand(2, 64, 64, 1)
    with torch.inference_mode():
        want = net(x)
    np.testing.assert_allclose(ovr.OpenVINOModule(net, example)(x), want, atol=1e-4)
    with torch.no_grad():  # other weights: another graph
        next(net.parameters()).add_(1.0)
    with pytest.raises(AssertionError, match="converted again"):
        ovr.OpenVINOModule(net, example)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATX_CACHE_DIR", str(tmp_path))
    assert ovr.cache_dir() == tmp_path / "openvino"
    monkeypatch.delenv("FEATX_CACHE_DIR")
    assert ovr.cache_dir().parts[-3:] == (".cache", "featx", "openvino")


def test_an_unwritable_cache_warns_and_still_runs(monkeypatch, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("FEATX_CACHE_DIR", str(not_a_folder))
    net = _net("mini_xception")
    with pytest.warns(UserWarning, match="could not cache the OpenVINO graph"):
        compiled = ovr.OpenVINOModule(net, torch.zeros(1, 64, 64, 1))
    x = torch.rand(1, 64, 64, 1)
    with torch.inference_mode():
        np.testing.assert_allclose(compiled(x), net(x), atol=1e-4)


def test_a_cache_write_cut_short_leaves_no_entry_and_no_temporary_files(monkeypatch, tmp_path):
    """A full disk (say) while moving the graph into place: nothing half-written stays."""
    monkeypatch.setenv("FEATX_CACHE_DIR", str(tmp_path))
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    net = _net("mini_xception")
    example = torch.zeros(1, 64, 64, 1)
    with pytest.warns(UserWarning, match="could not cache the OpenVINO graph"):
        ovr.OpenVINOModule(net, example)
    assert list((tmp_path / "openvino").iterdir()) == []
    monkeypatch.setattr(os, "replace", real_replace)
    ovr.OpenVINOModule(net, example)  # converts again, and caches it whole this time
    assert sorted(p.suffix for p in (tmp_path / "openvino").iterdir()) == [".bin", ".xml"]


def _mapped_kib(path) -> int:
    """Resident KiB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header
                inside = len(fields) == 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


def test_warm_up_releases_the_mapped_weights_and_keeps_the_outputs(monkeypatch, tmp_path):
    """After the first inference the plugin holds its own copy of the weights: the mapped
    weights file's pages are dropped from memory, and the outputs do not change (Linux:
    the release and this test's /proc accounting)."""
    monkeypatch.setenv("FEATX_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(64, 256, 3), torch.nn.ReLU(), torch.nn.Conv2d(256, 64, 3)
    )
    x = torch.rand(2, 64, 12, 12)
    with torch.no_grad():
        want = net(x)
    compiled = ovr.OpenVINOModule(net.eval(), x[:1])
    (weights,) = (tmp_path / "openvino").glob("*.bin")
    compiled(x)
    assert _mapped_kib(weights.resolve()) > 0.5 * weights.stat().st_size / 1024
    assert compiled.warm_up() > 0
    assert _mapped_kib(weights.resolve()) == 0
    np.testing.assert_allclose(compiled(x).numpy(), want.numpy(), atol=1e-4)
    # another batch size reads back at most part of the file (the plugin keeps its own copy)
    assert _mapped_kib(weights.resolve()) < 0.5 * weights.stat().st_size / 1024

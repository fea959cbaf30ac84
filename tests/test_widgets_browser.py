"""The viewer in a real browser: JupyterLab on localhost, Debian's Chromium driven by Playwright.

A notebook builds the viewer on a Dataset over a short synthetic video; the test runs it, drags
the frame slider and checks that the frame image on the page changed. Screenshots go to the
test's tmp_path and are copied to ``$FEATX_ARTIFACTS/widgets_browser`` (default
``/tmp/featx-artifacts``), printed at the end.

Needs ``/usr/bin/chromium`` (apt: chromium, chromium-driver) and the pip packages jupyterlab and
playwright (the ``dev`` extra); ``.ci/run`` installs them. Playwright never downloads a browser
here: it launches the system Chromium. Without Chromium the test is skipped with a loud reason
(a laptop's ``make test`` stays usable); where ``FEATX_REQUIRE_BROWSER=1`` (``.ci/run`` sets it)
a missing Chromium fails it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TESTS = Path(__file__).resolve().parent
TIMEOUT_MS = 45_000

NOTEBOOK_CODE = f"""\
import sys
sys.path.insert(0, {str(TESTS)!r})
from pathlib import Path
from widget_data import dataset, write_video
import featx

video = write_video(Path("clip.avi").resolve(), 12)
viewer = dataset(video, 12).feat.view(width=400)
viewer
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, method: str = "GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free localhost port, its root and settings under tmp_path."""
    root = tmp_path / "lab"
    root.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
    }
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )  # no "get Jupyter news?" toast over the screenshots
    log = open(tmp_path / "jupyterlab.log", "w")  # noqa: SIM115 (closed in the finally)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None", "--ServerApp.disable_check_xsrf=True",
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                _api(f"{url}/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start: "
                        + (tmp_path / "jupyterlab.log").read_text()[-3000:]
                    )
                time.sleep(0.3)
        yield url, root
    finally:
        try:
            for kernel in _api(f"{url}/api/kernels") or []:
                _api(f"{url}/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def _write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE)]
    nbformat.write(nb, path)


@pytest.mark.requires("chromium")
def test_slider_changes_the_frame_in_jupyterlab(lab, tmp_path, capsys):
    from playwright.sync_api import sync_playwright

    url, root = lab
    _write_notebook(root / "viewer.ipynb")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1700, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/lab/tree/viewer.ipynb")
            page.wait_for_function(
                "() => window.jupyterapp?.shell.currentWidget?.sessionContext !== undefined"
            )
            page.evaluate(
                """async () => {
                    const panel = window.jupyterapp.shell.currentWidget;
                    await panel.context.ready;
                    await panel.sessionContext.ready;
                    await window.jupyterapp.commands.execute('notebook:run-all-cells');
                }"""
            )
            frame = page.locator("img.featx-frame")
            readout = page.locator(".widget-html", has_text="clip.avi · frame")
            readout.wait_for()
            assert "frame 0 ·" in readout.inner_text()
            frame.wait_for()
            page.wait_for_function(
                "() => document.querySelector('img.featx-frame').naturalWidth > 0"
            )
            src_before = frame.get_attribute("src")
            png_before = frame.screenshot(path=shots / "frame_before.png")
            page.screenshot(path=shots / "lab_before.png")

            # drag the slider handle three quarters of the way along its track
            track = page.locator(".widget-slider .noUi-target").first.bounding_box()
            handle = page.locator(".widget-slider .noUi-handle").first.bounding_box()
            page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + 0.75 * track["width"], track["y"] + track["height"] / 2,
                            steps=8)  # fmt: skip
            page.mouse.up()
            page.wait_for_function(
                "before => document.querySelector('img.featx-frame').src !== before",
                arg=src_before,
            )
            page.wait_for_function(
                "() => !/ frame 0 ·/.test([...document.querySelectorAll('.widget-html')]"
                ".map(e => e.innerText).join(' '))"
            )
            page.wait_for_function(
                "() => document.querySelector('img.featx-frame').naturalWidth > 0"
            )
            page.wait_for_timeout(300)  # let the other panels land for the screenshot
            png_after = frame.screenshot(path=shots / "frame_after.png")
            page.screenshot(path=shots / "lab_after.png")
            page.locator(".featx-viewer").screenshot(path=shots / "viewer_after.png")
            text_after = readout.inner_text()
        finally:
            browser.close()

    assert png_after != png_before  # the pixels on the page changed, not just the URL
    moved_to = int(text_after.split("frame ")[1].split(" ")[0])
    assert 6 <= moved_to <= 11, text_after
    saved = Path(os.environ.get("FEATX_ARTIFACTS", "/tmp/featx-artifacts")) / "widgets_browser"
    shutil.copytree(shots, saved, dirs_exist_ok=True)
    with capsys.disabled():
        print(f"\nviewer screenshots (slider 0 -> {moved_to}): {shots} and {saved}")

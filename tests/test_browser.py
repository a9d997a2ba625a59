"""The students' real path: JupyterLab in a real (headless) browser runs a lesson top to bottom.

Needs Debian's Chromium (/usr/bin/chromium) and the `playwright` Python package (no browser download).
Skipped where they are missing, except when MARSLAB_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "marslab-browser-test"
ARTIFACTS = ROOT / "build" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        missing = None if CHROMIUM else "chromium (apt-get install chromium)"
    if missing:
        if os.environ.get("MARSLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but {missing} is missing")
        pytest.skip(f"{missing} is missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free local port, serving a copy of notebooks/ (so autosave never touches them)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port = _free_port()
    log = open(root / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", "--expose-app-in-browser", "--allow-root", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={root / 'workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MARSLAB_PROFILE": "smoke"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/contents/notebooks?token={TOKEN}", timeout=5) as r:
                    listing = r.read().decode()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("JupyterLab did not start:\n" + (root / "server.log").read_text()[-3000:])
                time.sleep(1)
        yield base, listing
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def test_jupyterlab_serves_the_lessons(lab):
    _, listing = lab
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert nb.name in listing, f"JupyterLab does not list {nb.name}"


# JavaScript run in the page through the app that --expose-app-in-browser publishes.
JS_RUN_ALL = "window.jupyterapp.commands.execute('notebook:run-all-cells')"
JS_PROGRESS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const code = nb.widgets.filter(c => c.model.type === 'code');
  const done = code.filter(c => c.model.executionCount !== null && !c.promptNode.textContent.includes('*'));
  const errors = [];
  for (const c of code) for (let i = 0; i < c.model.outputs.length; i++) {
    const o = c.model.outputs.get(i);
    if (o.type === 'error') errors.push(o.toJSON().ename + ': ' + o.toJSON().evalue);
  }
  return {total: code.length, done: done.length, errors: errors};
}"""


def _open_and_run(page, base: str, name: str, timeout_s: int = 600) -> dict:
    page.goto(f"{base}/lab/tree/notebooks/{name}?token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                           timeout=120_000)
    page.evaluate(JS_RUN_ALL)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        progress = page.evaluate(JS_PROGRESS)
        if progress["errors"] or progress["done"] == progress["total"]:
            return progress
        time.sleep(2)
    raise AssertionError(f"{name} did not finish in {timeout_s} s: {page.evaluate(JS_PROGRESS)}")


@pytest.mark.parametrize("name", ["01_data_inspection.ipynb"])
def test_a_lesson_runs_in_the_browser_with_plots_and_a_working_widget(lab, name):
    from playwright.sync_api import sync_playwright

    base, _ = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            progress = _open_and_run(page, base, name)
            assert not progress["errors"], f"{name} raised in the browser: {progress['errors']}"

            plots = page.locator(".jp-OutputArea-output img")
            assert plots.count() >= 2, "no rendered plots (image outputs) in the lesson"
            assert page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                                 ".some(i => i.complete && i.naturalWidth > 100)"), "plots did not render"

            slider = page.locator(".marslab-browser .widget-slider").first
            assert slider.count() and slider.is_visible(), "the ipywidgets browser did not render"
            handle = slider.locator(".noUi-handle")
            image = slider.locator("xpath=ancestor::div[contains(@class,'marslab-browser')][1]//img").first
            value, src = handle.get_attribute("aria-valuenow"), image.get_attribute("src")
            track = slider.locator(".noUi-base")
            track.scroll_into_view_if_needed()
            box = track.bounding_box()
            track.click(position={"x": box["width"] * 0.9, "y": box["height"] / 2})  # a student's click on the track
            page.wait_for_function("([h, v]) => h.getAttribute('aria-valuenow') !== v",
                                   arg=[handle.element_handle(), value], timeout=30_000)
            page.wait_for_function("([s, src]) => { const img = s.closest('.marslab-browser').querySelector('img');"
                                   " return img !== null && img.getAttribute('src') !== src; }",
                                   arg=[slider.element_handle(), src], timeout=60_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / name.replace(".ipynb", ".png")), full_page=True)
            browser.close()

"""Browser tests: Playwright for Python driving Debian's Chromium against a live server in a thread.

The server runs the same app (and database) as the rest of the suite, with CSRF on, as in production.
Set CERTIFY_SKIP_BROWSER=1 to skip these on a machine without /usr/bin/chromium.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    """Mark browser tests and run them last: the session-wide live server switches CSRF on for the shared
    app (as in production), which the test-client tests elsewhere do not send."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
    items[:] = sorted(items, key=lambda item: "/e2e/" in str(item.fspath))


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of the app served in a background thread (threaded Werkzeug; Socket.IO over websocket)."""
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from certify import worker

    stop, _threads = worker.start(app, periodic=False)  # background jobs (the defense scheduler), as serve does
    yield f"http://127.0.0.1:{server.server_port}"
    stop.set()
    server.shutdown()
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture(scope="session")
def browser():
    if os.environ.get("CERTIFY_SKIP_BROWSER") == "1":
        pytest.skip("CERTIFY_SKIP_BROWSER=1")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium "
                    "(or set CERTIFY_SKIP_BROWSER=1 to skip browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_context(browser, live_server):
    """Factory for isolated browser contexts (one per person in a multi-user test)."""
    contexts = []

    def make(**kwargs):
        context = browser.new_context(base_url=live_server, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      **kwargs)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for c in contexts:
        c.close()


@pytest.fixture
def page(new_context, request):
    context = new_context()
    pg = context.new_page()
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def browser_login(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")

"""What every browser test shares: Debian's chromium, started once per test module."""
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
# Skipped on a developer machine without chromium; never in CI, where .ci/run installs it.
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def plugin_link(base, plugin, **state):
    """A TensorBoard URL that opens ``plugin`` with its URL state (deep link)."""
    import urllib.parse

    return f"{base}/#" + "&".join([plugin] + [f"p.{plugin}.{k}={urllib.parse.quote(str(v))}"
                                              for k, v in state.items()])


class PluginPage:
    """A TensorBoard page showing one of our tabs, ``frame`` its iframe, once ``ready`` (a JS expression) holds.
    Dialogs and page errors are collected; :meth:`close` asserts there were none."""

    def __init__(self, browser, url, plugin, ready, dark=False):
        import time

        self.page = browser.new_page(viewport={"width": 1400, "height": 900}, color_scheme="dark" if dark else "light")
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        deadline = time.time() + 30
        self.frame = None
        while self.frame is None and time.time() < deadline:
            self.frame = next((f for f in self.page.frames if "plugin_entry" in f.url and plugin in f.url), None)
            self.page.wait_for_timeout(100)
        assert self.frame, "the plugin iframe did not appear"
        self.frame.wait_for_function(f"() => {ready}", timeout=30000)

    def js(self, expr, arg=None):
        return self.frame.evaluate(expr, arg)

    def close(self):
        assert not self.dialogs and not self.errors, (self.dialogs, self.errors)
        self.page.close()

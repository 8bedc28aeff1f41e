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

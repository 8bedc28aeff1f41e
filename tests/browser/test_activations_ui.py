"""The Activations tab in a real browser: headless Chromium (Debian's) against a real ``tensorboard``.

Uses the session logdir from tests/conftest.py (run ``cnn`` from the Keras callback, run ``odd`` with a
layer named like HTML, NaN/Inf values, a 512-unit dense layer and a sequence layer).
"""
import re
import time

import numpy as np
import pytest

from tests import helpers
from tests.conftest import XSS_LAYER

from tests.browser.conftest import CHROMIUM, needs_chromium  # noqa: F401  (CHROMIUM: for other test modules)

PLUGIN = "nnvis_activations"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def tb(activations_logdir):
    with helpers.tensorboard(activations_logdir["logdir"], load_fast="false") as base:
        yield base


def deep_link(base, **state):
    parts = [PLUGIN] + [f"p.{PLUGIN}.{k}={v}" for k, v in state.items()]
    return f"{base}/#" + "&".join(parts)


class Tab:
    """A TensorBoard page showing our tab; ``frame`` is the plugin iframe."""

    def __init__(self, browser, url, dark=False):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900},
                                     color_scheme="dark" if dark else "light")
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.frame = self._find_frame()

    def _find_frame(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for f in self.page.frames:
                if "plugin_entry" in f.url and PLUGIN in f.url:
                    return f
            self.page.wait_for_timeout(100)
        raise AssertionError("the plugin iframe did not appear")

    def wait_loaded(self):
        self.frame.wait_for_function("() => window.__nnvisActivations && window.__nnvisActivations.cur",
                                     timeout=30000)
        self.page.wait_for_timeout(150)  # one animation frame for the grid

    def js(self, expr):
        return self.frame.evaluate(expr)

    def click_unit(self, u):
        x, y, w, h = self.js(f"window.__nnvisActivations.grid._tileRect({u})")
        self.frame.locator(".nv-grid-card canvas.nv-base").click(position={"x": x + w / 2, "y": y + h / 2})
        self.frame.wait_for_selector(".nv-col-detail:not([hidden]) .nv-readout:not(:empty)")

    def hover_big(self, y, x, th, tw):
        box = self.frame.locator("canvas.nv-big").bounding_box()
        self.page.mouse.move(box["x"] + (x + 0.5) * box["width"] / tw, box["y"] + (y + 0.5) * box["height"] / th)
        self.page.wait_for_timeout(50)
        return self.frame.locator(".nv-readout").text_content()

    def close(self):
        self.page.close()


def first_number(text):
    m = re.search(r"[-−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)
    assert m, text
    return float(m.group(0).replace("−", "-"))


def test_grid_draws_units_and_unit_detail(tb, browser):
    tab = Tab(browser, deep_link(tb, run="cnn", layer="conv1"))
    try:
        tab.wait_loaded()
        assert tab.frame.locator(".nv-layer-title").text_content() == "conv1"
        # read the grid canvas pixels inside the iframe: tiles drawn, many distinct colours
        stats = tab.js("""() => {
            const c = document.querySelector('.nv-grid-card canvas.nv-base');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let opaque = 0; const colours = new Set();
            for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) { opaque++; colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
            return {w: c.width, h: c.height, opaque, colours: colours.size};
        }""")
        assert stats["w"] > 50 and stats["h"] > 20, stats
        assert stats["opaque"] > 0.3 * stats["w"] * stats["h"], stats
        assert stats["colours"] > 8, stats
        assert "steps loaded" in tab.frame.locator(".nv-slider-label").text_content()
        assert "--samples_per_plugin" in tab.frame.locator(".nv-slider-box .nv-hint").text_content()

        # click a unit: enlarged view and a value that matches the data the backend holds
        tab.click_unit(2)
        assert tab.frame.locator(".nv-detail-title").text_content() == "Unit 2"
        maps = tab.js("window.__nnvisActivations.cur.maps")
        # a grey atlas (no NaN/Inf): its green channel, read as the NaN/Inf flag, must come out all zeros
        assert maps["channels"] == 1
        assert tab.js("""() => { const d = window.__nnvisActivations.cur.img.data;
            let flagged = 0, nonzero = 0;
            for (let o = 0; o < d.length; o += 4) { if (d[o + 1]) flagged++; if (d[o]) nonzero++; }
            return [flagged, nonzero > 100]; }""") == [0, True]
        th, tw = maps["grid"]["tile_h"], maps["grid"]["tile_w"]
        lo, hi = maps["range"][2]
        text = tab.hover_big(3, 4, th, tw)
        value = first_number(text)
        assert lo - 1e-6 <= value <= hi + 1e-6, (text, lo, hi)
        assert re.search(r"y = 3, x = 4", tab.frame.locator(".nv-readout-pos").text_content())
        # the selection is in the host URL (deep link) ...
        tab.page.wait_for_function("() => location.hash.includes('p.nnvis_activations.unit=2')")
        # ... and the keyboard moves between units as in the Deep Visualization Toolbox
        tab.frame.locator(".nv-grid-card canvas.nv-base").focus()
        tab.page.keyboard.press("ArrowRight")
        tab.page.keyboard.press("Enter")
        tab.frame.wait_for_function("() => window.__nnvisActivations.S.unit === 3")
        assert tab.frame.locator(".nv-detail-title").text_content() == "Unit 3"
        assert tab.frame.locator(".nv-film .nv-frame").count() >= 2
        assert not tab.errors, tab.errors
    finally:
        tab.close()


def test_deep_link_reopens_view_and_values_match_known_data(tb, browser):
    # helpers.nonfinite_maps(): x[p, y, x, u] = ((y*4 + x)*3 + u)/10 for finite entries; unit 1 of
    # probe 0 has NaN at (0,0), +Inf at (0,1), -Inf at (1,0); unit 2 is all NaN.
    tab = Tab(browser, deep_link(tb, run="odd", layer="nonfinite", probe=0, unit=0))
    try:
        tab.wait_loaded()
        tab.frame.wait_for_selector(".nv-col-detail:not([hidden]) .nv-readout:not(:empty)")
        assert tab.frame.locator(".nv-detail-title").text_content() == "Unit 0"
        expected = helpers.nonfinite_maps()
        maps = tab.js("window.__nnvisActivations.cur.maps")
        lo, hi = maps["range"][0]
        for (y, x) in [(2, 3), (0, 0), (3, 1)]:
            text = tab.hover_big(y, x, 4, 4)
            assert abs(first_number(text) - expected[0, y, x, 0]) <= (hi - lo) / 510 + 1e-4, (y, x, text)

        tab.click_unit(1)
        assert tab.hover_big(0, 0, 4, 4).strip() == "NaN"
        assert tab.hover_big(0, 1, 4, 4).strip() == "+Inf"
        assert tab.hover_big(1, 0, 4, 4).strip() == "−Inf"
        assert tab.frame.locator(".nv-colorbar .nv-special").first.text_content().startswith("NaN")
        assert not tab.errors, tab.errors
    finally:
        tab.close()


def _opens_from_one_runs_tags(tb, browser, url):
    """Opens ``url`` and checks that the page asked /tags of one run first, drew the grid, then asked the full
    list, and that the sidebar ends up with every run and its layer count; returns the run shown."""
    expected = helpers.get_json(tb, f"/data/plugin/{PLUGIN}/tags")["runs"]
    assert len(expected) >= 2
    tab = Tab(browser, url)
    try:
        tab.wait_loaded()
        tab.frame.wait_for_function(
            f"() => document.querySelectorAll('.nv-run-list .nv-list-item').length >= {len(expected)}", timeout=30000)
        items = tab.frame.locator(".nv-run-list .nv-list-item").evaluate_all(
            "els => Object.fromEntries(els.map((e) => [e.dataset.key, e.textContent]))")
        for run, layers in expected.items():
            assert f"{len(layers)} layers" in items[run], (run, items[run])
        shown = tab.js("window.__nnvisActivations.S.run")
        entries = tab.js("""performance.getEntriesByType('resource').map((e) => ({
            name: e.name.split('/nnvis_activations/')[1] || e.name, start: e.startTime, end: e.responseEnd}))""")
        tags = [e for e in entries if e["name"].startswith("tags")]
        assert [e["name"] for e in tags] == [f"tags?run={shown}", "tags"], tags
        grid = min(e["end"] for e in entries if e["name"].startswith("atlas?"))  # the first grid's
        assert tags[1]["start"] >= tags[0]["end"] and tags[1]["start"] >= grid - 1, (tags, grid)
        assert not tab.errors, tab.errors
        return shown
    finally:
        tab.close()


def test_a_deep_linked_run_draws_from_its_own_tags_then_lists_every_run(tb, browser):
    """With the run in the URL the page asks /tags for that run alone, draws the grid from it, and then asks the
    full list: the sidebar ends up with every run and its layer count."""
    alone = helpers.get_json(tb, f"/data/plugin/{PLUGIN}/tags", run="odd")
    assert list(alone["runs"]) == ["odd"]
    assert alone["runs"]["odd"] == helpers.get_json(tb, f"/data/plugin/{PLUGIN}/tags")["runs"]["odd"]
    assert set(alone["probe_inputs"]) <= {"odd"}
    assert helpers.get_json(tb, f"/data/plugin/{PLUGIN}/tags", run="nope")["runs"] == {}  # the app then lists all
    assert _opens_from_one_runs_tags(tb, browser, deep_link(tb, run="odd", layer="wide")) == "odd"


def test_without_a_run_in_the_url_the_first_grid_is_the_hosts_first_run(tb, browser):
    """No run in the URL: /tags of the host's first run (the run the tab opens with), then the full list."""
    runs = helpers.get_json(tb, "/data/runs")
    assert _opens_from_one_runs_tags(tb, browser, f"{tb}/#{PLUGIN}") == runs[0]


def test_html_layer_name_is_text(tb, browser):
    tab = Tab(browser, deep_link(tb, run="odd", layer="wide"))
    try:
        tab.wait_loaded()
        names = tab.frame.locator(".nv-layer-list .nv-name").all_text_contents()
        assert XSS_LAYER in names
        tab.frame.locator(".nv-layer-list .nv-name", has_text="onerror").click()
        tab.frame.wait_for_function("() => window.__nnvisActivations.cur && window.__nnvisActivations.S.layer.startsWith('<img')")
        assert tab.frame.locator(".nv-layer-title").text_content() == XSS_LAYER
        tab.page.wait_for_timeout(300)
        assert tab.js("document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
        assert tab.dialogs == []
        # the layer name made it to the host URL, encoded
        assert "onerror" in tab.page.evaluate("decodeURIComponent(location.hash)")
    finally:
        tab.close()


def test_backend_error_shows_message(tb, browser):
    tab = Tab(browser, deep_link(tb, run="cnn", layer="conv2", step=999999))
    try:
        msg = tab.frame.wait_for_selector(".nv-message.nv-error", timeout=30000)
        text = msg.text_content()
        assert "999999" in text, text
        assert "Traceback" not in text
        assert "not loaded" in tab.frame.locator(".nv-slider-label").text_content()
        # picking a loaded step from the slider recovers
        tab.frame.locator(".nv-slider button[aria-label='Previous step']").click()
        tab.wait_loaded()
        assert tab.frame.locator(".nv-grid-card .nv-message").count() == 0
    finally:
        tab.close()


def test_dark_mode_follows_host(tb, browser):
    dark = Tab(browser, deep_link(tb, run="cnn", layer="gap"), dark=True)
    try:
        dark.wait_loaded()
        dark.frame.wait_for_function("() => document.documentElement.classList.contains('nv-dark')")
        assert dark.js("getComputedStyle(document.body).backgroundColor") == "rgb(58, 58, 58)"
    finally:
        dark.close()
    light = Tab(browser, deep_link(tb, run="cnn", layer="gap"))
    try:
        light.wait_loaded()
        assert light.js("getComputedStyle(document.body).backgroundColor") == "rgb(245, 245, 245)"
        # TensorBoard flips `dark-mode` on its body: our iframe follows without a reload
        light.page.evaluate("document.body.classList.add('dark-mode')")
        light.frame.wait_for_function("() => getComputedStyle(document.body).backgroundColor === 'rgb(58, 58, 58)'")
        light.page.evaluate("document.body.classList.remove('dark-mode')")
        light.frame.wait_for_function("() => getComputedStyle(document.body).backgroundColor === 'rgb(245, 245, 245)'")
    finally:
        light.close()


def test_overview_and_load_fast(activations_logdir, browser):
    with helpers.tensorboard(activations_logdir["logdir"], load_fast="true") as base:
        tab = Tab(browser, deep_link(base, run="odd", layer="wide"))
        try:
            tab.wait_loaded()
            assert tab.js("window.__nnvisActivations.grid.count") == 512
            # units-over-training heatmap: drawn, and a click selects that unit
            tab.frame.wait_for_function("() => document.querySelector('.nv-overview canvas.nv-base').width > 0")
            canvas = tab.frame.locator(".nv-overview canvas.nv-base")
            box = canvas.bounding_box()
            tab.page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] * (10.5 / 512))
            tab.frame.wait_for_function("() => window.__nnvisActivations.S.unit === 10")
            assert not tab.errors, tab.errors
        finally:
            tab.close()


def test_top_dataset_examples(tb, browser):
    # run cnn: ActivationsCallback(examples=x (64 images 16×16×3), top_k=4); run odd: no top examples
    top = helpers.get_json(tb, f"/data/plugin/{PLUGIN}/top", run="cnn", layer="conv2", unit=5)
    assert len(top["examples"]) == 4 and top["images"], top
    tab = Tab(browser, deep_link(tb, run="cnn", layer="conv2", unit=5))
    try:
        tab.wait_loaded()
        tab.frame.wait_for_selector(".nv-top:not([hidden]) .nv-top-ex")
        assert tab.frame.locator(".nv-top[data-unit='5']").count() == 1
        assert tab.frame.locator(".nv-top-step").text_content() == f"· step {top['step']}"
        items = tab.frame.locator(".nv-top-ex")
        assert items.count() == 4
        for i, ex in enumerate(top["examples"]):
            item = items.nth(i)
            assert first_number(item.locator(".nv-top-value").text_content()) == pytest.approx(ex["value"], rel=1e-3, abs=1e-3)
            assert item.get_attribute("title").startswith(f"#{ex['index']} ")
            assert item.locator(".nv-top-mark").count() == 1
        # the thumbnails are the dataset images (decoded, not blank), with the marker where the peak is
        # wait until every thumbnail settled (loaded or failed); a failed one shows up below as size 0x0
        tab.frame.wait_for_function("() => [...document.querySelectorAll('.nv-top-ex img')].every((i) => i.complete)")
        images = tab.js("""() => [...document.querySelectorAll('.nv-top-ex')].map((ex) => {
            const img = ex.querySelector('img'), c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data, colours = new Set();
            for (let i = 0; i < d.length; i += 4) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            const r = img.getBoundingClientRect(), b = ex.querySelector('.nv-top-img').getBoundingClientRect();
            // the input rows and columns the thumbnail's box shows (a crop shows part of the image)
            const rows = [(b.top - r.top) / r.height * c.height, (b.bottom - r.top) / r.height * c.height];
            const cols = [(b.left - r.left) / r.width * c.width, (b.right - r.left) / r.width * c.width];
            return {w: c.width, h: c.height, colours: colours.size, shown: b.width, rows, cols,
                    cropped: ex.querySelector('.nv-top-img').classList.contains('nv-cropped')};
        })""")
        for ex, im in zip(top["examples"], images):
            assert (im["w"], im["h"]) == (16, 16) and im["colours"] > 50 and im["shown"] >= 48, im
            # conv2's receptive field at the peak (conv 3x3, pool 2, conv 3x3, no padding): 8x8 input pixels
            # from (2y, 2x); the thumbnail is cropped to exactly that window, the whole image a hover away
            field = [[2 * ex["y"], 2 * ex["y"] + 8], [2 * ex["x"], 2 * ex["x"] + 8]]
            assert ex["crop"] == field, ex
            assert im["cropped"]
            assert im["rows"] == pytest.approx(field[0], abs=0.3) and im["cols"] == pytest.approx(field[1], abs=0.3), im
        # another unit: its own examples
        top2 = helpers.get_json(tb, f"/data/plugin/{PLUGIN}/top", run="cnn", layer="conv2", unit=6)
        tab.click_unit(6)
        tab.frame.wait_for_selector(".nv-top[data-unit='6']")
        titles = tab.frame.locator(".nv-top-ex").evaluate_all("(els) => els.map((e) => e.title)")
        assert [t.split(" ")[0] for t in titles] == [f"#{ex['index']}" for ex in top2["examples"]]
        assert not tab.errors, tab.errors
    finally:
        tab.close()
    # a run without top examples: no section, and no error message for the 404
    tab = Tab(browser, deep_link(tb, run="odd", layer="nonfinite", unit=0))
    try:
        tab.wait_loaded()
        tab.frame.wait_for_selector(".nv-col-detail:not([hidden]) .nv-readout:not(:empty)")
        tab.frame.wait_for_function("() => window.__nnvisActivations.topReq != null")  # loadTop ran for this unit
        assert tab.frame.locator(".nv-top").is_hidden()
        assert tab.frame.locator(".nv-top-ex").count() == 0
        assert tab.frame.locator(".nv-message.nv-error").count() == 0
        assert not tab.errors, tab.errors
    finally:
        tab.close()

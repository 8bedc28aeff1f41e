"""The Feature visualization tab in headless Chromium against a real ``tensorboard`` (logdir of
tests/plugins/featvis_logs.py): the grid draws the callback's images pixel for pixel, a unit opens with its
filmstrip (which moves the step), its diversity images and its top examples from the Activations tab,
the transparency mask toggles, HTML in names stays text, unknown layers give a message, light and dark."""
import urllib.parse

import numpy as np
import pytest

from tb_nnvis.core.images import decode_png
from tb_nnvis.plugins.activations.encoding import atlas_pixels  # grey or RGB, as red q and green flag
from tests import helpers
from tests.browser.conftest import PluginPage, needs_chromium, plugin_link
from tests.plugins.featvis_logs import XSS_LAYER, featvis_logdir

PLUGIN = "nnvis_featvis"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def tb():
    with helpers.tensorboard(featvis_logdir()["logdir"], load_fast="true", plugin=PLUGIN) as base:
        yield base


def link(base, **state):
    return plugin_link(base, PLUGIN, **state)


class Page(PluginPage):
    def __init__(self, browser, url, dark=False, ready="window.__nnvisFeatvis && window.__nnvisFeatvis.cur"):
        super().__init__(browser, url, PLUGIN, ready, dark)



def _tile_pixels(tab, selector):
    return tab.js("""(sel) => { const c = document.querySelector(sel);
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""",
                  selector)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_grid_draws_the_stored_images_and_a_unit_opens(tb, browser, dark):
    tab = Page(browser, link(tb, run="cnn", layer="conv2"), dark)
    try:
        assert tab.js("() => document.documentElement.classList.contains('nv-dark')") == dark
        assert tab.js("() => document.querySelectorAll('.nv-fv-tile').length") == 32
        # Tile 7's pixels are exactly the atlas's (no smoothing, no colour management).
        grid = helpers.get_json(tb, f"/data/plugin/{PLUGIN}/grid", run="cnn", layer="conv2", step=8)
        atlas = decode_png(helpers.get(tb, f"/data/plugin/{PLUGIN}/atlas", run="cnn", layer="conv2", step=8)[2])
        cols = grid["grid"][1]
        want = atlas[(7 // cols) * 32:(7 // cols + 1) * 32, (7 % cols) * 32:(7 % cols + 1) * 32]
        w, h, data = _tile_pixels(tab, ".nv-fv-tile[data-unit='7'] canvas")
        got = np.array(data, np.uint8).reshape(h, w, 4)
        np.testing.assert_array_equal(got[..., :3], want)
        caption = tab.js("() => document.querySelector(\".nv-fv-tile[data-unit='7'] .nv-fv-value\").textContent")
        assert float(caption) == pytest.approx(grid["values"][7], rel=2e-3, abs=1e-3)
        # Open unit 7 with the keyboard: the filmstrip has one frame per written step.
        tab.frame.locator(".nv-fv-tile[data-unit='6']").focus()
        tab.page.keyboard.press("ArrowRight")
        tab.page.keyboard.press("Enter")
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-fv-frame').length === 3")
        assert tab.js("() => document.querySelector('.nv-fv-detail .nv-layer-title').textContent") == "Unit 7"
        # The filmstrip moves the step.
        tab.frame.locator(".nv-fv-frame[data-step='0']").click()
        tab.frame.wait_for_function("() => window.__nnvisFeatvis.S.step === 0 && window.__nnvisFeatvis.cur.data.step === 0")
        assert tab.js("() => document.querySelector(\".nv-fv-frame[aria-pressed='true']\").dataset.step") == "0"
        bg = tab.js("() => getComputedStyle(document.body).backgroundColor")
        assert (bg == "rgb(58, 58, 58)") == dark, bg
    finally:
        tab.close()


def test_unit_panel_shows_diversity_and_the_activations_tabs_top_examples(tb, browser):
    tab = Page(browser, link(tb, run="cnn", layer="conv2", unit=1, step=8))
    try:
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-fv-diversity-row canvas').length === 2")
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-fv-example img').length === 3")
        top = helpers.get_json(tb, "/data/plugin/nnvis_activations/top", run="cnn", layer="conv2", unit=1, step=8)
        srcs = tab.js("() => [...document.querySelectorAll('.nv-fv-example img')].map(i => i.getAttribute('src'))")
        assert [int(urllib.parse.parse_qs(s.split("?")[1])["index"][0]) for s in srcs] == [e["index"] for e in top["examples"]]
        tab.frame.wait_for_function("() => [...document.querySelectorAll('.nv-fv-example img')].every(i => i.naturalWidth === 32)")
        href = tab.js("() => document.querySelector('.nv-fv-link').href")
        assert "#nnvis_activations&p.nnvis_activations.run=cnn&p.nnvis_activations.layer=conv2&p.nnvis_activations.unit=1" in href
        # Deep links survive: the state is in the host URL.
        assert "p.nnvis_featvis.unit=1" in tab.page.url
        # The transparency mask makes some pixels of the big image see-through.
        tab.frame.locator("#nv-fv-alpha").check()
        tab.frame.wait_for_function("() => window.__nnvisFeatvis.cur.alpha !== null")
        _, _, data = _tile_pixels(tab, ".nv-fv-big")
        alpha = np.array(data[3::4])
        assert alpha.min() < 128 and alpha.max() == 255
    finally:
        tab.close()


ACTS = "/data/plugin/nnvis_activations"


def _expected_map_colours(maps, atlas, unit, lut):
    """The colours the Activations tab gives ``unit``'s tile at its default scale (each unit on its own range;
    viridis, or blue-white-red centred at 0 when the layer has negative values), from the route data."""
    g = maps["grid"]
    th, tw, cols = g["tile_h"], g["tile_w"], g["cols"]
    tile = atlas[(unit // cols) * th:(unit // cols + 1) * th, (unit % cols) * tw:(unit % cols + 1) * tw]
    lo, hi = maps["range"][unit]
    value = lo + tile[..., 0] / 255.0 * (hi - lo)
    if min(min(r) for r in maps["range"]) < 0:
        m = max(abs(lo), abs(hi))
        t = (value + m) / (2 * m)
    else:
        t = (value - lo) / (hi - lo) if hi > lo else np.zeros_like(value)
    index = np.clip(np.floor(t * 255 + 0.5), 0, 255).astype(int)  # JavaScript's Math.round
    return lut[index], tile[..., 1] == 0, value


def test_unit_panel_shows_its_feature_maps_coloured_as_the_activations_tab(tb, browser):
    tab = Page(browser, link(tb, run="cnn", layer="conv2", unit=5, step=8))
    try:
        probes = helpers.get_json(tb, ACTS + "/tags")["runs"]["cnn"]["conv2"]["probes"]
        assert probes == 2
        tab.frame.wait_for_function(f"() => document.querySelectorAll('.nv-fv-map canvas').length === {probes}")
        assert "step 8" in tab.js("() => document.querySelector('.nv-fv-acts-sub').textContent")
        shared = "(name) => import(new URL('static/shared/' + name, document.baseURI).href)"
        lut = np.array(tab.js(f"async () => Array.from((await ({shared})('colormap.js')).lut('viridis'))")).reshape(256, 3)
        for p in range(probes):
            maps = helpers.get_json(tb, ACTS + "/maps", run="cnn", layer="conv2", step=8, probe=p)
            atlas = atlas_pixels(helpers.get(tb, ACTS + "/atlas", run="cnn", layer="conv2", step=8, probe=p)[2])
            want, finite, value = _expected_map_colours(maps, atlas, 5, lut)
            assert finite.all() and min(min(r) for r in maps["range"]) >= 0  # ReLU maps: viridis, as the tab picks
            w, h, data = _tile_pixels(tab, f".nv-fv-map[data-probe='{p}'] canvas")
            got = np.array(data, np.uint8).reshape(h, w, 4)
            assert got.shape[:2] == want.shape[:2]
            np.testing.assert_array_equal(got[..., :3], want)
            assert (got[..., 3] == 255).all()
            # the value under the cursor is the route's value at that pixel
            canvas = tab.frame.locator(f".nv-fv-map[data-probe='{p}'] canvas")
            box = canvas.bounding_box()
            y, x = np.unravel_index(np.argmax(value), value.shape)
            tab.page.mouse.move(box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h)
            readout = tab.js("() => document.querySelector('.nv-fv-map-readout').textContent")
            assert readout.startswith(f"probe {p} · ({y}, {x}) · ")
            assert float(readout.split(" · ")[-1]) == pytest.approx(value[y, x], rel=1e-4, abs=1e-6)
            href = tab.js(f"() => document.querySelector(\".nv-fv-map[data-probe='{p}']\").href")
            assert f"p.nnvis_activations.unit=5&p.nnvis_activations.probe={p}&p.nnvis_activations.step=8" in href
        # another unit's maps differ (the tile is cut at the unit's place in the atlas)
        tab.frame.locator(".nv-fv-tile[data-unit='6']").click()
        tab.frame.wait_for_function("() => document.querySelector('.nv-fv-map').href.includes('unit=6')")
        # the Activations step nearest to the one shown (the earlier on a tie)
        near = tab.js("async () => { const m = await import(new URL('static/featvis/acts.js', document.baseURI).href);"
                      " return [m.nearestStep([0, 4, 8], 5), m.nearestStep([0, 4, 8], 6), m.nearestStep([0, 4, 8], 99),"
                      " m.nearestStep([], 3)]; }")
        assert near == [4, 4, 8, None]
    finally:
        tab.close()


def test_layer_of_the_activations_tab_without_maps_says_so_and_html_stays_text(tb, browser):
    tab = Page(browser, link(tb, run="cnn", layer="conv1", unit=2))
    try:
        tab.frame.wait_for_function("() => /no maps of layer “conv1”/.test(document.querySelector('.nv-fv-acts').textContent)")
    finally:
        tab.close()
    tab = Page(browser, link(tb, run="odd", layer=XSS_LAYER))
    try:
        assert tab.js("() => document.querySelector('.nv-layer-title').textContent") == XSS_LAYER
        assert tab.js("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert tab.js("() => document.querySelector(\".nv-fv-tile[data-unit='1'] .nv-fv-value\").textContent") == "NaN"
        # Unit 1's image was found by unit 0's search: marked, and the hint says how many are.
        assert tab.js("() => [...document.querySelectorAll('.nv-fv-shared')].map((b) => b.dataset.unit)") == ["1"]
        assert "↺ (1 of 3): found by another unit's search" in tab.js("() => document.querySelector('.nv-fv-grid-card .nv-hint').textContent")
    finally:
        tab.close()


def test_unknown_layer_and_step_give_messages(tb, browser):
    tab = Page(browser, link(tb, run="cnn", layer="nope", step=12345))
    try:
        tab.frame.wait_for_function("() => /No feature visualizations of layer “nope” in run “cnn”/.test(document.querySelector('.nv-banner').textContent)")
        tab.frame.wait_for_function("() => /Step 12345 is not loaded/.test(document.body.textContent)")
        assert tab.js("() => document.querySelector('.nv-layer-title').textContent") == "conv1"
    finally:
        tab.close()

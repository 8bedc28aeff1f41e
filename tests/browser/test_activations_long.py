"""The Activations tab on a run with many layers and steps, in headless Chromium against a real
``tensorboard``: the filmstrip costs one strip request, scrubbing does not load every step it passes,
and the layer list filters (regex) and folds layers into blocks and nested models."""
import contextlib
import time

import numpy as np
import pytest

from tb_nnvis import summary
from tests import helpers
from tests.browser.conftest import needs_chromium
from tests.browser.test_activations_ui import Tab, deep_link

pytestmark = needs_chromium

STEPS = list(range(0, 120, 10))
LAYERS = (["Conv1"] + [f"block_1_{n}" for n in ("expand", "expand_BN", "expand_relu", "project", "project_BN")]
          + ["block_2_expand", "block_2_expand_BN", "block_2_add", "block_3_expand", "block_3_project_BN"]
          + ["model/sub/conv", "model/sub/bn", "model/sub/relu", "model/head"]
          + [f"mobilenetv2_1.00_224/block_{b}_{n}" for b in (4, 5) for n in ("expand", "add")]
          + ["out_relu", "predictions"])


def unit_maps(step):
    """``[2, 4, 4, 3]``: unit 1 is the constant ``step``; units 0 and 2 are unlike it (a wrong tile shows)."""
    x = np.zeros((2, 4, 4, 3), np.float32)
    x[..., 0] = -float(step) * np.arange(16).reshape(4, 4)
    x[..., 1] = step
    x[..., 2] = 1000.0
    return x


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("long")
    helpers.write_pb(logdir / "long", {step: [summary.activations_pb(name, unit_maps(step)) for name in LAYERS]
                                       for step in STEPS})
    with helpers.tensorboard(logdir, load_fast="false", extra=["--samples_per_plugin=nnvis_activations=100"]) as base:
        yield base


@contextlib.contextmanager
def opened(browser, url):
    """Our tab at ``url``, loaded; closed afterwards, and the page must not have raised."""
    tab = Tab(browser, url)
    try:
        tab.wait_loaded()
        yield tab
        assert not tab.errors, tab.errors
    finally:
        tab.close()


def requests_to(tab, route):
    """URLs of the plugin requests for ``route`` the page makes from now on."""
    seen = []
    tab.page.on("request", lambda r: seen.append(r.url) if f"/nnvis_activations/{route}?" in r.url else None)
    return seen


def test_filmstrip_is_one_request_and_shows_every_step_in_order(tb, browser):
    with opened(browser, deep_link(tb, run="long", layer="block_2_add", cmap="viridis")) as tab:
        strips, atlases = requests_to(tab, "unit_strip"), requests_to(tab, "atlas")
        tab.click_unit(1)
        tab.frame.wait_for_selector(".nv-film[data-drawn='12']")
        assert len(strips) == 1 and not atlases, (strips, atlases)
        # unit 1 is the constant `step`: with viridis (values >= 0) the green channel rises with the value,
        # so the frames, in step order, must get greener one by one
        greens = tab.js("""() => [...document.querySelectorAll('.nv-film .nv-frame canvas')].map((c) =>
            c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data[1])""")
        assert len(greens) == len(STEPS) and all(a < b for a, b in zip(greens, greens[1:])), greens
        labels = tab.frame.locator(".nv-film .nv-frame-label").all_text_contents()
        assert labels == [str(s) for s in STEPS]


def test_scrubbing_loads_only_the_latest_step(tb, browser):
    with opened(browser, deep_link(tb, run="long", layer="Conv1")) as tab:
        atlases = requests_to(tab, "atlas")
        # a scrub through every step, faster than the server answers
        tab.js("() => { const app = window.__nnvisActivations; for (const s of app.steps) app.setStep(s); }")
        tab.frame.wait_for_function(f"() => window.__nnvisActivations.cur && window.__nnvisActivations.cur.step === {STEPS[-1]}")
        tab.page.wait_for_timeout(300)
        # the first step of the scrub, then the last (already cached: it was the first grid), not the rest
        asked = {int(u.split("step=")[1].split("&")[0]) for u in atlases}
        assert STEPS[0] in asked and len(asked) <= 3, sorted(asked)
        assert tab.frame.locator(".nv-slider-label").text_content().startswith(f"step {STEPS[-1]}")


def test_layer_list_filters_and_folds_blocks_and_nested_models(tb, browser):
    with opened(browser, deep_link(tb, run="long", layer="block_1_project")) as tab:
        layers = tab.frame.locator(".nv-layer-list")
        heads = {h.split("\n")[0]: h for h in layers.locator(".nv-group-head").all_inner_texts()}
        names = [t.get_attribute("title").split(":")[0] for t in layers.locator(".nv-group-head").all()]
        assert names == ["block_1", "block_2", "block_3", "model/sub", "mobilenetv2_1.00_224/block_4",
                         "mobilenetv2_1.00_224/block_5"], (names, heads)
        # the selected layer's block is open, the others are folded; names inside a block drop its prefix
        assert layers.locator(".nv-group-head[aria-expanded='true']").count() == 1
        open_items = layers.locator(".nv-group-items .nv-list-item .nv-name").all_text_contents()
        assert open_items == ["expand", "expand_BN", "expand_relu", "project", "project_BN"]
        top = layers.locator(":scope > .nv-list-item .nv-name").all_text_contents()
        assert top == ["Conv1", "model/head", "out_relu", "predictions"]
        # open a nested model's block and pick a layer in it
        layers.locator(".nv-group-head[title^='mobilenetv2_1.00_224/block_5:']").click()
        layers.locator(".nv-list-item[data-key='mobilenetv2_1.00_224/block_5_add']").click()
        tab.frame.wait_for_function("() => window.__nnvisActivations.S.layer === 'mobilenetv2_1.00_224/block_5_add'")
        assert tab.frame.locator(".nv-layer-title").text_content() == "mobilenetv2_1.00_224/block_5_add"
        # the arrow keys walk from a group header into the list
        layers.locator(".nv-group-head").first.focus()
        tab.page.keyboard.press("ArrowDown")
        assert tab.js("() => document.activeElement.className") in ("nv-list-item", "nv-group-head")

        box = tab.frame.locator("input[aria-label='Filter layers']")
        box.fill("expand_(BN|relu)$")
        shown = layers.locator(".nv-list-item").evaluate_all("els => els.map((e) => e.dataset.key)")
        assert shown == ["block_1_expand_BN", "block_1_expand_relu", "block_2_expand_BN"]
        assert "3 of 21" in tab.frame.locator(".nv-layer-list").locator("xpath=..").locator(".nv-list-count").text_content()
        box.fill("block_[")  # not a regular expression: matched as plain text, and marked
        assert "nv-invalid" in box.get_attribute("class")
        assert layers.locator(".nv-list-empty").text_content() == "No match."
        box.fill("")
        assert layers.locator(".nv-group-head").count() == 6


def test_first_grid_waits_for_neither_the_app_modules_nor_the_panels(tb, browser):
    """The first step's /maps and /atlas are asked for while the app's own modules still load (held here), and
    the panels the first grid does not need (unit, overview, dynamics and their stylesheets) only after."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors, held, seen = [], [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: seen.append(r.url.split("/nnvis_activations/")[-1]))
    page.route("**/static/activations/app.js", lambda route: held.append(route))  # answered once the data was asked for
    try:
        page.goto(deep_link(tb, run="long", layer="Conv1"), wait_until="commit")
        deadline = time.time() + 30
        while not (held and any(u.startswith("atlas?") for u in seen)) and time.time() < deadline:
            page.wait_for_timeout(20)
        asked = list(seen)
        last = f"step={STEPS[-1]}"
        assert any(u.startswith("maps?") and last in u for u in asked), asked
        assert any(u.startswith("atlas?") and last in u for u in asked), asked
        assert not any(u.endswith(("unit.js", "overview.js", "dynamics.js", "weights.css")) for u in asked), asked
        held[0].continue_()
        frame = next(f for f in page.frames if "plugin_entry" in f.url)
        frame.wait_for_function("() => window.__nnvisActivations && window.__nnvisActivations.cur", timeout=30000)
        frame.wait_for_selector(".nv-overview-card")  # the panels, loaded after the grid
        entries = frame.evaluate("""() => performance.getEntriesByType('resource').map((e) => ({
            name: e.name.split('/nnvis_activations/')[1] || e.name, by: e.initiatorType, start: e.startTime,
            end: e.responseEnd}))""")
        # one /tags of the named run (the preload index.js starts, which the boot's fetch used) and one request
        # per route for the first step (the app used the boot's): nothing asked twice
        assert [e["by"] for e in entries if e["name"] == "tags?run=long"] == ["link"], entries
        first = [e for e in entries if e["name"].startswith(("maps?", "atlas?")) and last in e["name"]]
        assert len(first) == 2, first
        grid_data = max(e["end"] for e in first)
        deferred = [e for e in entries if e["name"].endswith(("activations/unit.js", "activations/detail.js",
                                                              "activations/overview.js", "activations/dynamics.js",
                                                              "shared/heatmap.js", "weights.css", "heatmap.css"))]
        assert len(deferred) == 7 and all(e["start"] >= grid_data for e in deferred), (grid_data, deferred)
        styles = [e for e in entries if e["name"].endswith(("base.css", "activations/style.css"))]
        assert len(styles) == 2 and all(e["by"] == "link" and e["start"] < grid_data for e in styles), styles
        assert not errors, errors
    finally:
        page.close()


def test_panels_show_the_unit_of_a_deep_link_once_loaded(tb, browser):
    """A unit named in the URL is shown by the unit panel, which loads after the first grid."""
    with opened(browser, deep_link(tb, run="long", layer="Conv1", unit=1)) as tab:
        tab.frame.wait_for_selector(".nv-col-detail:not([hidden]) .nv-readout:not(:empty)")
        tab.frame.wait_for_selector(f".nv-film[data-drawn='{len(STEPS)}']")
        assert tab.js("window.__nnvisActivations.S.unit") == 1

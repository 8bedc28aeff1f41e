"""The Relevance tab in a real browser: headless Chromium (Debian's) against a real ``tensorboard``.

Uses the logdir of tests/plugins/relevance_logs.py (``cnn``: image probes, two composites, unit relevance and
ActivationsCallback maps; ``text``: the planted-word task with HTML-like tokens; ``odd``: NaN relevance).
"""
import time

import numpy as np
import pytest

from tests import helpers
from tests.plugins import relevance_logs

from tests.browser.conftest import CHROMIUM, needs_chromium  # noqa: F401  (CHROMIUM: for other test modules)

PLUGIN = "nnvis_relevance"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def logs():
    return relevance_logs.relevance_logdir()


@pytest.fixture(scope="module")
def tb(logs):
    with helpers.tensorboard(logs["logdir"], load_fast="true", plugin=PLUGIN) as base:
        yield base


def deep_link(base, plugin=PLUGIN, **state):
    return f"{base}/#" + "&".join([plugin] + [f"p.{plugin}.{k}={v}" for k, v in state.items()])


def find_frame(page, plugin, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for f in page.frames:
            if "plugin_entry" in f.url and plugin in f.url:
                return f
        page.wait_for_timeout(100)
    raise AssertionError(f"the {plugin} iframe did not appear")


class Tab:
    def __init__(self, browser, url, dark=False):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900}, color_scheme="dark" if dark else "light")
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.frame = find_frame(self.page, PLUGIN)
        self.frame.wait_for_function("() => window.__nnvisRelevance && window.__nnvisRelevance.cur", timeout=30000)

    def js(self, expr):
        return self.frame.evaluate(expr)

    def wait_for(self, expr, timeout=15000):
        self.frame.wait_for_function(expr, timeout=timeout)

    def canvas_stats(self, selector):
        return self.frame.evaluate("""(sel) => {
            const c = document.querySelector(sel);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const colours = new Set(); let transparent = 0, sum = 0;
            for (let i = 0; i < d.length; i += 4) {
              sum += d[i] + d[i + 1] + d[i + 2] + d[i + 3];
              if (d[i + 3] === 0) transparent++; else colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }
            return {w: c.width, h: c.height, colours: colours.size, transparent, sum};
        }""", selector)

    def close(self):
        assert not self.dialogs, self.dialogs
        assert not self.errors, self.errors
        self.page.close()


HEAT = ".nv-composite-box[data-composite='epsilon_plus'] canvas.nv-heat"


@pytest.mark.parametrize("dark", [False, True])
def test_image_heatmaps_draw_and_the_target_selector_switches_the_map(tb, browser, logs, dark):
    _, _, _, cb = logs["cnn"]
    tab = Tab(browser, deep_link(tb, run="cnn", name="probes", probe=1), dark=dark)
    try:
        tab.wait_for(f"() => document.querySelector({HEAT!r})")
        assert tab.js("document.documentElement.classList.contains('nv-dark')") == dark
        before = tab.canvas_stats(HEAT)
        assert before["w"] >= 120 and before["colours"] > 10, before
        assert tab.frame.locator(".nv-composite-box").count() == 2  # composites side by side
        options = tab.js("[...document.querySelectorAll('#nv-target option')].map(o => [o.value, o.textContent])")
        assert [v for v, _ in options[:2]] == ["predicted", "true"] and len(options) == 2 + 4
        other, other_name = options[3]  # the second logged class: never the predicted one
        assert f"relevance for {other_name} ·" not in tab.frame.locator(".nv-probe-detail .nv-target-line").text_content()
        tab.frame.select_option("#nv-target", other)
        tab.wait_for(f"() => document.querySelector('.nv-probe-detail .nv-target-line').textContent.includes({'relevance for ' + other_name + ' ·'!r})")
        after = tab.canvas_stats(HEAT)
        assert after["sum"] != before["sum"]
        assert f"p.{PLUGIN}.target={other}" in tab.page.url
        # the exact relevance under the cursor is the stored value
        box = tab.frame.locator(HEAT).bounding_box()
        tab.page.mouse.move(box["x"] + box["width"] * (5.5 / 12), box["y"] + box["height"] * (3.5 / 12))
        readout = tab.frame.locator(".nv-readout").text_content()
        assert "(3, 5)" in readout, readout
        data = helpers.get_json(tb, "/data/plugin/nnvis_relevance/data", run="cnn", name="probes",
                                composite="epsilon_plus", step=cb.written_steps[-1])
        col = data["targets"][1].index(int(other[1:]))
        raw = helpers.get(tb, "/data/plugin/nnvis_relevance/relevance", run="cnn", name="probes",
                          composite="epsilon_plus", step=cb.written_steps[-1], probe=1)[2]
        expected = np.frombuffer(raw, "<f4").reshape(-1, 12, 12)[col, 3, 5]
        shown = float(readout.split("R = ")[1].replace("−", "-"))
        assert shown == pytest.approx(float(expected), rel=1e-4, abs=1e-9)
        assert tab.frame.locator(".nv-film-item").count() == len(cb.written_steps)
        # the HTML class name is text
        assert relevance_logs.XSS_CLASS in tab.frame.locator(".nv-scores").text_content()
        assert tab.frame.locator(".nv-scores img, .nv-scores b").count() == 0
    finally:
        tab.close()


def test_planted_word_tops_the_most_relevant_words_and_html_tokens_are_text(tb, browser, logs):
    tab = Tab(browser, deep_link(tb, run="text", name="documents"))
    try:
        header = helpers.get_json(tb, "/data/plugin/nnvis_relevance/data", run="text", name="documents",
                                  composite="epsilon_plus", step=logs["text"][3].written_steps[-1])
        hits, html_seen = 0, 0
        for p in range(5):
            tab.frame.locator(f".nv-probe-chip[aria-label='probe {p}']").click()
            tab.wait_for(f"() => document.querySelector('.nv-doc-card .nv-card-title').textContent.startsWith('Document {p}')")
            first = tab.frame.locator(".nv-most tr:nth-of-type(2) td.nv-word").text_content()
            hits += first == relevance_logs.PLANTED[header["targets"][p][0]]
            tokens = tab.js("[...document.querySelectorAll('.nv-doc .nv-token')].map(t => t.textContent)")
            assert tokens == header["tokens"][p]
            html_seen += any(t in relevance_logs.HTML_TOKENS for t in tokens)
        assert hits == 5 and html_seen
        assert "the document was classified as" in tab.frame.locator(".nv-sentence").text_content()
        assert tab.frame.locator(".nv-doc img, .nv-doc script, .nv-doc b").count() == 0
        # switching target recolours the text
        colours = tab.js("[...document.querySelectorAll('.nv-doc .nv-token')].map(t => t.style.background).join('|')")
        tab.frame.select_option("#nv-target", index=3)
        tab.wait_for(f"() => [...document.querySelectorAll('.nv-doc .nv-token')].map(t => t.style.background).join('|') !== {colours!r}")
    finally:
        tab.close()


def test_nan_relevance_shows_as_missing_not_as_a_colour(tb, browser):
    tab = Tab(browser, deep_link(tb, run="odd", name="nan probes", step=5))
    try:
        sel = ".nv-composite-box canvas.nv-heat"
        tab.wait_for(f"() => document.querySelector({sel!r})")
        stats = tab.canvas_stats(sel)
        px = stats["w"] * stats["h"] // 25  # one relevance pixel's area
        assert stats["transparent"] == 6 * px, stats  # (1, 1) and row 2: six NaN values, nothing else
    finally:
        tab.close()
    tab = Tab(browser, deep_link(tb, run="odd", name="nan text", step=5))
    try:
        tab.wait_for("() => document.querySelector('.nv-doc .nv-token')")
        missing = tab.js("[...document.querySelectorAll('.nv-doc .nv-token')].map(t => [t.textContent, t.classList.contains('nv-missing'), t.style.background])")
        assert missing[0] == ["fine", True, ""] and missing[1][:2] == ["<b>x</b>", False]
    finally:
        tab.close()


def test_words_spelt_like_non_finite_numbers_stay_words(tb, browser):
    # The server spells NaN and Inf as strings; a text's word "NaN" or a class named "Infinity" must not
    # come back as a number, while a relevance value spelt "NaN" must.
    tab = Tab(browser, deep_link(tb, run="odd", name="nan text", step=5))
    try:
        tab.wait_for("() => document.querySelector('.nv-doc .nv-token')")
        got = tab.frame.evaluate("""async () => {
            const api = await import(new URL('static/shared/api.js', document.baseURI).href);
            const d = api.parseJSON('{"tokens": [["NaN", "Infinity", "x"], ["-Infinity"]], "class_names": ["NaN"],'
                                    + ' "relevance": [["NaN", 1, "-Infinity"]]}');
            return [d.tokens, d.class_names, Number.isNaN(d.relevance[0][0]), d.relevance[0][2] === -Infinity];
        }""")
        assert got == [[["NaN", "Infinity", "x"], ["-Infinity"]], ["NaN"], True, True]
    finally:
        tab.close()


def test_unit_click_lands_on_the_activations_unit(tb, browser):
    tab = Tab(browser, deep_link(tb, run="cnn", name="probes", probe=2))
    try:
        tab.wait_for("() => document.querySelector('.nv-unit-ranking a.nv-unit-name')")
        link = tab.frame.locator(".nv-unit-ranking a.nv-unit-name").first
        unit = int(link.get_attribute("data-unit"))
        link.click()
        act = find_frame(tab.page, "nnvis_activations")
        act.wait_for_function("() => window.__nnvisActivations && window.__nnvisActivations.cur", timeout=30000)
        state = act.evaluate("window.__nnvisActivations.S")
        assert (state["run"], state["layer"], state["unit"], state["probe"]) == ("cnn", "conv2", unit, 2)
        assert "#nnvis_activations" in tab.page.url
    finally:
        tab.close()


def test_unknown_run_and_step_give_a_message(tb, browser):
    tab = Tab(browser, deep_link(tb, run="nope"))
    try:
        assert "No relevance data for run “nope”" in tab.frame.locator(".nv-banner").text_content()
        tab.js("window.__nnvisRelevance.setStep(123456)")
        tab.wait_for("() => document.querySelector('.nv-view-msg').textContent.includes('123456')")
        assert "not loaded" in tab.frame.locator(".nv-view-msg").text_content()
    finally:
        tab.close()


def test_activations_unit_panel_shows_the_units_heatmap_and_follows_the_step(tb, browser, logs):
    _, _, _, cb = logs["cnn"]
    maps = {u: helpers.get_json(tb, "/data/plugin/nnvis_relevance/unit_heatmap", run="cnn", layer="conv2", unit=u,
                                probe=3, step=cb.written_steps[-1])["values"] for u in (0, 1, 2)}
    unit = max(maps, key=lambda u: len(set(maps[u])))  # a unit that fires on this probe
    assert len(set(maps[unit])) > 5
    url = deep_link(tb, plugin="nnvis_activations", run="cnn", layer="conv2", unit=unit, probe=3,
                    step=cb.written_steps[-1])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        frame = find_frame(page, "nnvis_activations")
        frame.wait_for_function("() => { const b = document.querySelector('.nv-unit-heatmap'); return b && !b.hidden; }",
                                timeout=30000)
        caption = frame.locator(".nv-unit-heatmap .nv-hint").text_content()
        assert f"unit {unit}'s activation" in caption and f"step {cb.written_steps[-1]}" in caption
        colours = frame.evaluate("""() => {
            const c = document.querySelector('.nv-unit-heatmap canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const s = new Set(); for (let i = 0; i < d.length; i += 4) if (d[i + 3]) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            return s.size; }""")
        assert colours > 5
        # LRP and gradient × input were both logged: a switch
        frame.locator(".nv-unit-heatmap-switch button[data-value='gradient_x_input']").click()
        frame.wait_for_function("() => document.querySelector('.nv-unit-heatmap .nv-hint').textContent.startsWith('Gradient × input')")
        frame.locator(".nv-unit-heatmap-switch button[data-value='epsilon_plus']").click()
        frame.wait_for_function("() => document.querySelector('.nv-unit-heatmap .nv-hint').textContent.startsWith('LRP (epsilon_plus)')")
        frame.evaluate(f"window.__nnvisActivations.setStep({cb.written_steps[0]})")
        frame.wait_for_function(f"() => document.querySelector('.nv-unit-heatmap .nv-hint').textContent.includes('step {cb.written_steps[0]} ')")
        # a layer without heatmaps shows no section
        frame.evaluate("window.__nnvisActivations.selectLayer('conv1')")
        frame.wait_for_function("() => window.__nnvisActivations.S.layer === 'conv1'")
        frame.evaluate("window.__nnvisActivations.selectUnit(0)")
        frame.wait_for_function("() => document.querySelector('.nv-unit-heatmap').hidden")
        assert not errors, errors
    finally:
        page.close()


def test_a_target_the_probe_did_not_log_is_explained(tb, browser):
    tab = Tab(browser, deep_link(tb, run="odd", name="nan probes", target="c2", probe=0))
    try:
        tab.wait_for("() => document.querySelector('.nv-probe-detail .nv-message')")
        note = tab.frame.locator(".nv-probe-detail .nv-message").text_content()
        assert "was not logged for this probe" in note and relevance_logs.XSS_CLASS in note
        assert tab.js("document.querySelector('#nv-target').value") == "predicted"
    finally:
        tab.close()

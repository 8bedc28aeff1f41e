"""The RNN cells tab in headless Chromium against a real ``tensorboard`` (logdir of tests/plugins/rnn_logs.py):
the text draws coloured by the hand-built quote cell, selecting a span and a regex both rank it first,
HTML in tokens and layer names stays text, bad links and bad data give messages, light and dark."""
import re

import pytest

from tests import helpers
from tests.browser.conftest import PluginPage, needs_chromium, plugin_link
from tests.plugins.rnn_logs import ODD_TOKENS, XSS_LAYER, rnn_logdir

PLUGIN = "nnvis_rnn"
RED, BLUE = "214, 96, 77", "67, 147, 195"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def tb():
    with helpers.tensorboard(rnn_logdir()["logdir"], load_fast="true", plugin=PLUGIN) as base:
        yield base


def link(base, **state):
    return plugin_link(base, PLUGIN, **state)


class Page(PluginPage):
    def __init__(self, browser, url, dark=False, ready="window.__nnvisRnn && window.__nnvisRnn.traces"):
        super().__init__(browser, url, PLUGIN, ready, dark)

    def ranked(self, box):
        self.frame.wait_for_selector(f"{box} tr[data-cell]", timeout=15000)
        return [int(c) for c in self.js(f"() => [...document.querySelectorAll('{box} tr[data-cell]')].map(r => r.dataset.cell)")]



@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_text_is_coloured_by_the_quote_cell_and_sparklines_draw(tb, browser, dark):
    tab = Page(browser, link(tb, run="quote", layer="lstm", cell=3), dark)
    try:
        assert tab.js("() => document.documentElement.classList.contains('nv-dark')") == dark
        colours = tab.js("() => [...document.querySelectorAll('.nv-tok')].map(s => s.style.backgroundColor)")
        assert len(colours) == sum(len(t) for t in helpers.QUOTE_TEXTS)
        text = helpers.QUOTE_TEXTS[0]
        inside, outside = text.index("hello"), text.index("print")
        assert RED in colours[inside] and BLUE in colours[outside], (colours[inside], colours[outside])
        assert tab.js("() => document.querySelectorAll('.nv-tokens')[0].textContent").startswith('x = "hello" + y↵\nprint(')
        pixels = tab.js("""() => { const c = document.querySelector('.nv-cells-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return [c.height, n]; }""")
        assert pixels[0] > 8 * 16 and pixels[1] > 2000
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-sat canvas').length === 3")
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-history-wrap canvas').length === 1")
        # the cursor shows the value and the model's next-character guesses
        box = tab.frame.locator(f".nv-tok[data-p='0'][data-t='{inside}']").bounding_box()
        tab.page.mouse.move(box["x"] + 3, box["y"] + 5)
        tab.frame.wait_for_function("() => /next-token guesses/.test(document.querySelector('.nv-tooltip').textContent)")
        tip = tab.frame.locator(".nv-tooltip").text_content()
        assert "“h”  probe 0, position 5" in tip and "cell 3 state: 0.76" in tip and tip.count("%") == 5, tip
        bg = tab.js("() => getComputedStyle(document.body).backgroundColor")
        assert (bg == "rgb(58, 58, 58)") == dark, bg
    finally:
        tab.close()


def test_selecting_a_span_ranks_the_quote_cell_and_matches_the_other_quotes(tb, browser):
    tab = Page(browser, link(tb, run="quote", layer="lstm"))
    try:
        start = helpers.QUOTE_TEXTS[0].index('"')
        first = tab.frame.locator(f".nv-tok[data-p='0'][data-t='{start}']").bounding_box()
        last = tab.frame.locator(f".nv-tok[data-p='0'][data-t='{start + 5}']").bounding_box()
        tab.page.mouse.move(first["x"] + 2, first["y"] + 5)
        tab.page.mouse.down()
        tab.page.mouse.move(last["x"] + 3, last["y"] + 5, steps=5)
        tab.page.mouse.up()
        assert tab.ranked(".nv-select-results")[0] == helpers.QUOTE_CELL
        assert '“"hello”' in tab.frame.locator(".nv-select-info").text_content()
        tab.frame.wait_for_function("() => document.querySelectorAll('.nv-tok.nv-match').length > 0")
        matched = tab.js("""() => [...document.querySelectorAll('.nv-tok.nv-match')]
            .map(s => [Number(s.dataset.p), Number(s.dataset.t)])""")
        assert len(matched) == sum(b - a for a, b in [(4, 10), (22, 28)]) + 2 + 12
        assert "Cell 3 is on in 4 places" in tab.frame.locator(".nv-match-info").text_content()
        # clicking the top row chooses that cell: the text is repainted and the URL follows
        tab.frame.locator(".nv-select-results tr[data-cell]").first.click()
        tab.frame.wait_for_function("() => window.__nnvisRnn.S.cell === 3")
        assert "p.nnvis_rnn.cell=3" in tab.page.url
    finally:
        tab.close()


def test_a_regex_ranks_the_quote_cell_and_marks_its_tokens(tb, browser):
    tab = Page(browser, link(tb, run="quote", layer="lstm"))
    try:
        tab.frame.locator(".nv-regex").fill('"[^"\\n]*"')
        tab.frame.locator(".nv-pattern-form button").click()
        assert tab.ranked(".nv-pattern-results")[0] == helpers.QUOTE_CELL
        marked = tab.js("() => document.querySelectorAll('.nv-tok.nv-pattern').length")
        assert marked == sum(len(m) for t in helpers.QUOTE_TEXTS for m in re.findall(r'"[^"\n]*"', t))
        assert 'regex=' in tab.page.url
        tab.frame.locator(".nv-regex").fill("(")
        tab.frame.locator(".nv-pattern-form button").click()
        tab.frame.wait_for_selector(".nv-pattern-results .nv-error")
        assert "invalid regular expression" in tab.frame.locator(".nv-pattern-results").text_content()
    finally:
        tab.close()


def test_html_in_tokens_and_layer_names_is_shown_as_text(tb, browser):
    tab = Page(browser, link(tb, run="odd", layer=XSS_LAYER))
    try:
        assert tab.frame.locator(".nv-layer-title").text_content() == XSS_LAYER
        assert tab.js("() => document.querySelectorAll('.nv-text b, .nv-text script, .nv-main script').length") == 0
        shown = tab.js("() => document.querySelector('.nv-text').textContent")
        assert all(tok in shown for tok in ODD_TOKENS[0])
        nan = tab.js("() => window.__nnvisRnn.traces.at('hidden', 0, 1, 2)")
        assert nan is None or nan != nan  # NaN comes back from JS as None/NaN
    finally:
        tab.close()


def test_unknown_layers_and_malformed_data_give_messages(tb, browser):
    tab = Page(browser, link(tb, run="quote", layer="nope"))
    try:
        assert "No RNN traces for layer “nope” in run “quote”" in tab.frame.locator(".nv-banner").text_content()
        assert tab.frame.locator(".nv-layer-title").text_content() == "lstm"
    finally:
        tab.close()
    tab = Page(browser, link(tb, run="malformed", layer="broken"), ready="document.querySelector('.nv-main .nv-error')")
    try:
        assert "values blob is not zlib data" in tab.frame.locator(".nv-main .nv-error").first.text_content()
    finally:
        tab.close()


def test_keyboard_chooses_cells_and_selects_spans(tb, browser):
    tab = Page(browser, link(tb, run="quote", layer="lstm", cell=2))
    try:
        tab.frame.locator(".nv-cells-canvas").focus()
        tab.page.keyboard.press("ArrowDown")
        tab.frame.wait_for_function("() => window.__nnvisRnn.S.cell === 3")
        assert tab.frame.locator(".nv-text-card .nv-card-title").text_content().startswith("Cell 3")
        start = helpers.QUOTE_TEXTS[0].index('"')
        box = tab.frame.locator(f".nv-tok[data-p='0'][data-t='{start}']").bounding_box()
        tab.page.mouse.move(box["x"] + 2, box["y"] + 5)   # the cursor starts where the pointer is
        tab.frame.locator(".nv-text").focus()
        for _ in range(5):
            tab.page.keyboard.press("Shift+ArrowRight")
        assert tab.ranked(".nv-select-results")[0] == helpers.QUOTE_CELL
        assert tab.js("() => window.__nnvisRnn.selection") == {"probe": 0, "start": start, "end": start + 6}
    finally:
        tab.close()

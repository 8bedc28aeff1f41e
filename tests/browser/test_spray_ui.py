"""The Strategies (SpRAy) view in a real browser: headless Chromium (Debian's) against a real ``tensorboard``.

Uses the logdir of tests/plugins/spray_logs.py (``shortcut``: SpRAy of the ring class and class 0 over three
steps; ``pb``: the numpy writer with an HTML class name).
"""
import pytest

from tests import helpers
from tests.browser.conftest import needs_chromium
from tests.browser.test_relevance_ui import PLUGIN, Tab, deep_link
from tests.plugins import spray_logs

API = "/data/plugin/nnvis_relevance/spray"
Q = {"run": "shortcut", "name": "validation", "composite": "epsilon_alpha2_beta1"}
SUB = ".nv-strategies > .nv-card-title .nv-sub"
pytestmark = needs_chromium
PALETTE = {(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b), (0xe1, 0x57, 0x59), (0x76, 0xb7, 0xb2)}


@pytest.fixture(scope="module")
def logs():
    return spray_logs.spray_logdir()


@pytest.fixture(scope="module")
def tb(logs):
    with helpers.tensorboard(logs["logdir"], load_fast="true", plugin=PLUGIN) as base:
        yield base


def _open(browser, tb, dark=False, **state):
    tab = Tab(browser, deep_link(tb, run="shortcut", **state), dark=dark)
    tab.wait_for("() => document.querySelector('.nv-spray-scatter') || document.querySelector('.nv-spray-msg .nv-message')",
                 timeout=30000)
    return tab


def _scatter_colours(tab):
    return tab.js("""() => {
        const c = document.querySelector('.nv-spray-scatter');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add([d[i], d[i + 1], d[i + 2]].join(','));
        return [...seen];
    }""")


@pytest.mark.parametrize("dark", [False, True])
def test_scatter_clusters_members_and_the_member_view(tb, browser, dark):
    data = helpers.get_json(tb, API + "/data", **Q, target=5, step=12)
    tab = _open(browser, tb, dark=dark, spray_name="validation", spray_composite="epsilon_alpha2_beta1",
                spray_class=5)
    try:
        assert tab.js("document.documentElement.classList.contains('nv-dark')") == dark
        tab.wait_for("() => document.querySelectorAll('.nv-spray-cluster').length > 0")
        sub = tab.frame.locator(SUB).text_content()
        assert f"ring (class 5) · {data['n']} examples · {data['n_clusters']} clusters · step 12" == sub
        colours = {tuple(map(int, c.split(","))) for c in _scatter_colours(tab)}
        assert len(colours & PALETTE) >= 2  # the points are drawn in (at least) two cluster colours
        assert tab.frame.locator(".nv-spray-cluster").count() == data["n_clusters"]
        for c, size in enumerate(data["sizes"]):
            card = tab.frame.locator(".nv-spray-cluster").nth(c)
            assert f"{size} examples" in card.locator(".nv-spray-chead").text_content()
            assert card.locator(".nv-spray-member").count() == min(size, 24)
            mean = tab.js(f"""() => {{
                const c = document.querySelectorAll('.nv-spray-mean canvas')[{c}];
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let red = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 2] < 120) red++;
                return red; }}""")
            assert mean > 0  # positive relevance drawn in red
        # hovering a point shows its input and heatmap
        tab.frame.locator(".nv-spray-scatter").scroll_into_view_if_needed()
        box = tab.frame.locator(".nv-spray-scatter").bounding_box()
        half = (300 - 20) / 2
        x, y = data["embedding"][0]
        tab.page.mouse.move(box["x"] + 10 + half * (1 + x), box["y"] + 10 + half * (1 - y))
        tab.wait_for("() => document.querySelectorAll('.nv-spray-preview-maps canvas').length === 2")
        assert "cluster" in tab.frame.locator(".nv-spray-preview figcaption").text_content()
        # clicking a member opens it: input, heatmap and overlay
        hans = data["n_clusters"] - 1  # the smallest cluster (they are numbered by size)
        member = tab.frame.locator(".nv-spray-cluster").nth(hans).locator(".nv-spray-member").first
        label = member.get_attribute("aria-label")
        member.click()
        tab.wait_for("() => document.querySelectorAll('.nv-spray-detail canvas').length === 3")
        index = label.split()[1]
        assert f"Example #{index} · cluster {hans} · step 12" in tab.frame.locator(".nv-spray-detail").text_content()
        # the clusters at each loaded step; picking one loads that step
        rows = tab.frame.locator(".nv-spray-hbtn")
        assert rows.count() == 3
        rows.first.click()
        tab.wait_for(f"() => document.querySelector({SUB!r}).textContent.endsWith('step 0')")
        assert "p.nnvis_relevance.spray_step=0" in tab.page.url
    finally:
        tab.close()


def test_unknown_class_gets_a_message(tb, browser):
    tab = _open(browser, tb, spray_name="validation", spray_composite="epsilon_alpha2_beta1", spray_class=3)
    try:
        text = tab.frame.locator(".nv-spray-msg").text_content()
        assert "no SpRAy of class 3 for 'validation' in run 'shortcut' (analysed classes: 0, 5)" in text
        assert tab.frame.locator(".nv-spray-scatter").count() == 0
        tab.frame.select_option("#nv-spray-class", "0")  # and the view recovers
        tab.wait_for("() => document.querySelector('.nv-spray-scatter')")
        assert tab.frame.locator(".nv-spray-msg").text_content() == ""
    finally:
        tab.close()


def test_html_class_names_are_text_and_runs_without_spray_say_so(tb, browser):
    tab = _open(browser, tb)
    try:
        tab.js("window.__nnvisRelevance.selectRun('pb')")
        tab.wait_for(f"() => document.querySelector({SUB!r}).textContent.includes('class 2')")
        assert spray_logs.XSS_CLASS in tab.frame.locator(SUB).text_content()
        assert tab.frame.locator(".nv-strategies img").count() == 0
        tab.js("window.__nnvisRelevance.strategies.setRun('nope')")
        tab.wait_for("() => document.querySelector('.nv-spray-msg').textContent.includes('No SpRAy data for run')")
        # a run switch while the previous run's view still loads: nothing is asked of the new run
        asked = []
        tab.page.on("request", lambda r: "/spray/" in r.url and "run=nope" in r.url and asked.append(r.url))
        tab.js("(() => { const s = window.__nnvisRelevance.strategies; s.setRun('shortcut'); s.setRun('nope'); })()")
        tab.page.wait_for_timeout(2000)
        assert not asked, asked
    finally:
        tab.close()

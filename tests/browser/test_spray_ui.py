"""The Strategies (SpRAy) view in a real browser: headless Chromium (Debian's) against a real ``tensorboard``.

Uses the logdir of tests/plugins/spray_logs.py (``shortcut``: SpRAy of the ring class and class 0 over three
steps; ``pb``: the numpy writer with an HTML class name).
"""
import numpy as np
import pytest

from tests import helpers
from tests.browser.conftest import needs_chromium
from tests.browser.test_relevance_ui import PLUGIN, Tab, deep_link, find_frame
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
        x, y = tab.js("window.__nnvisRelevance.strategies.cur.positions[0]")
        tab.page.mouse.move(box["x"] + x, box["y"] + y)
        tab.wait_for("() => document.querySelectorAll('.nv-spray-preview-maps canvas').length === 2")
        assert tab.frame.locator(".nv-spray-preview figcaption").text_content().startswith("example #")
        # clicking a member opens it in the main view (checked in detail in test_a_member_opens_in_the_main_view)
        hans = data["n_clusters"] - 1  # the smallest cluster (they are numbered by size)
        member = tab.frame.locator(".nv-spray-cluster").nth(hans).locator(".nv-spray-member").first
        label = member.get_attribute("aria-label")
        member.click()
        tab.wait_for("() => document.querySelectorAll('.nv-member-detail .nv-map-row canvas.nv-heatmap').length === 3")
        index = label.split()[1]
        assert tab.frame.locator(".nv-member-detail .nv-subject-title").text_content() == f"Example #{index}"
        assert f"cluster {hans} · step 12" in tab.frame.locator(".nv-member-detail .nv-target-line").text_content()
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


def _symmetric_scale(values, pct):
    """frontend/shared/heatmap.js symmetricScale: the pct percentile of |v| (nearest rank)."""
    a = np.sort(np.abs(values[np.isfinite(values)]))
    i = min(len(a) - 1, max(0, int(np.ceil(pct / 100 * len(a))) - 1))
    return a[i] if a[i] > 0 else (a[-1] or 1)


def _heat_colours(tab, values, h, w, pct):
    """The expected colour of each map cell on the diverging map over [-m, m], and the drawn one (cell centres)."""
    lut = np.array(tab.js("async () => Array.from((await import(new URL('static/shared/colormap.js', document.baseURI).href))"
                          ".lut('bwr'))")).reshape(256, 3)
    m = _symmetric_scale(values, pct)
    t = np.clip(0.5 + values / (2 * m), 0, 1)
    want = lut[np.floor(t * 255 + 0.5).astype(int)].reshape(h, w, 3)
    cw, ch, px = tab.js("""() => { const c = document.querySelector('.nv-member-detail canvas.nv-heat');
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""")
    got = np.array(px, np.uint8).reshape(ch, cw, 4)
    s = cw // w
    assert ch // h == s and s >= 1
    return want, got[s // 2::s, s // 2::s, :3][:h, :w]


def test_a_member_opens_in_the_main_view_with_its_controls_scale_and_deep_link(tb, browser):
    data = helpers.get_json(tb, API + "/data", **Q, target=5, step=12)
    hans = data["n_clusters"] - 1
    i = data["labels"].index(hans)
    tab = _open(browser, tb, spray_name="validation", spray_composite="epsilon_alpha2_beta1", spray_class=5,
                spray_step=12, spray_member=i)
    try:
        # the deep link opens member i in the main view: the probe view's components, header and units hidden
        tab.wait_for("() => document.querySelectorAll('.nv-member-detail .nv-map-row canvas.nv-heatmap').length === 3")
        assert tab.frame.locator(".nv-member-detail .nv-subject-title").text_content() == f"Example #{data['indices'][i]}"
        assert tab.js("document.querySelector('.nv-relevance .nv-header').hidden") is True
        assert tab.frame.locator(".nv-member-detail .nv-composite-box[data-composite='epsilon_alpha2_beta1'] .nv-colorbar").count() == 1
        maps = helpers.get_json(tb, API + "/maps", **Q, target=5, step=12, members=str(i))
        h, w = maps["size"]
        values = np.array(maps["maps"][0], np.float32)
        want, got = _heat_colours(tab, values, h, w, 99.5)
        np.testing.assert_array_equal(got, want)
        # the sidebar's percentile clip is the member's colour scale too
        tab.frame.locator("#nv-pct").evaluate("(r) => { r.value = '95'; r.dispatchEvent(new Event('input')); }")
        tab.wait_for("() => document.querySelector('.nv-member-detail canvas.nv-heat') && "
                     "document.querySelector('.nv-member-detail .nv-colorbar').textContent.includes('95th')")
        want95, got = _heat_colours(tab, values, h, w, 95)
        np.testing.assert_array_equal(got, want95)
        assert (want95 != want).any()
        # the exact value under the cursor
        heat = tab.frame.locator(".nv-member-detail canvas.nv-heat").bounding_box()
        y, x = np.unravel_index(np.argmax(values), (h, w))
        tab.page.mouse.move(heat["x"] + (x + 0.5) * heat["width"] / w, heat["y"] + (y + 0.5) * heat["height"] / h)
        readout = tab.frame.locator(".nv-member-detail .nv-readout").text_content()
        assert readout.startswith(f"epsilon_alpha2_beta1 · ({y}, {x}) · R = ")
        assert float(readout.split("R = ")[1]) == pytest.approx(values.reshape(h, w)[y, x], rel=1e-5)
        # strips: the cluster's loaded members (this one pressed), and the example at each loaded step
        items = tab.frame.locator(".nv-image-view .nv-probe-strip .nv-strip-item")
        assert items.count() == min(data["sizes"][hans], 24)
        assert tab.js("document.querySelector('.nv-probe-strip .nv-strip-item[aria-pressed=\"true\"]').dataset.member") == str(i)
        assert tab.frame.locator(".nv-image-view .nv-film-item").count() == 3
        # another step: the member follows its example (labels are given, so every step analyses the same ones)
        tab.frame.locator(".nv-image-view .nv-film-item[data-step='0']").click()
        tab.wait_for("() => / · step 0$/.test(document.querySelector('.nv-member-detail .nv-target-line').textContent)")
        assert tab.frame.locator(".nv-member-detail .nv-subject-title").text_content() == f"Example #{data['indices'][i]}"
        assert "p.nnvis_relevance.spray_step=0" in tab.page.url and "p.nnvis_relevance.spray_member=" in tab.page.url
        # back to the probes: the probe view, its header, and no member in the URL
        tab.frame.locator(".nv-member-detail .nv-subject-close").click()
        tab.wait_for("() => !document.querySelector('.nv-member-detail') && document.querySelector('.nv-probe-detail')")
        assert tab.frame.locator(".nv-probe-detail .nv-subject-title").text_content() == "Probe 0"
        assert tab.js("document.querySelector('.nv-relevance .nv-header').hidden") is False
        tab.page.wait_for_timeout(300)
        assert "spray_member" not in tab.page.url
        # the sidebar's target menu, while a member is open, goes back to the probes with that target
        tab.frame.locator(".nv-spray-member").first.click()
        tab.wait_for("() => document.querySelector('.nv-member-detail')")
        tab.frame.select_option("#nv-target", index=1)
        tab.wait_for("() => !document.querySelector('.nv-member-detail') && document.querySelector('.nv-probe-detail')")
        assert tab.js("window.__nnvisRelevance.S.target") == tab.js("document.querySelector('#nv-target').value") != "predicted"
        # an out-of-range member in a link says so
    finally:
        tab.close()
    tab = _open(browser, tb, spray_name="validation", spray_composite="epsilon_alpha2_beta1", spray_class=5, spray_member=9999)
    try:
        tab.wait_for("() => document.querySelector('.nv-spray-msg').textContent.includes('Member 9999 is out of range')")
        assert tab.frame.locator(".nv-member-detail").count() == 0
    finally:
        tab.close()


def _stacks(points, radius=1.5):
    """Greedy stacks: each point joins the nearest stack whose first point is within ``radius``, else starts one."""
    seeds = []
    for i, p in enumerate(points):
        d = [np.sum((points[s[0]] - p) ** 2) for s in seeds]
        j = int(np.argmin(d)) if d else -1
        if j >= 0 and d[j] <= radius ** 2:
            seeds[j].append(i)
        else:
            seeds.append([i])
    return sorted((len(s) for s in seeds if len(s) > 1), reverse=True)


def test_near_identical_maps_are_spread_apart_and_each_is_reachable(tb, browser):
    data = helpers.get_json(tb, API + "/data", **Q, target=5, step=12)
    emb = np.array(data["embedding"])
    half = (300 - 20) / 2
    points = np.stack([10 + half * (1 + emb[:, 0]), 10 + half * (1 - emb[:, 1])], 1)
    want = _stacks(points)
    assert want and want[0] >= 5  # the marked rings' near-identical maps share one spot of the embedding
    tab = _open(browser, tb, spray_name="validation", spray_composite="epsilon_alpha2_beta1", spray_class=5, spray_step=12)
    try:
        tab.wait_for("() => document.querySelector('.nv-spray-scatter')")
        scatter = tab.frame.locator(".nv-spray-scatter")
        assert [int(v) for v in scatter.get_attribute("data-stacks").split(",")] == want
        assert f"(the largest: {want[0]})" in scatter.get_attribute("aria-label")
        # every point is drawn where it, and no other, is the nearest one: hover and click reach each member
        reach = tab.js("""async () => { const m = await import(new URL('static/relevance/spray_plots.js', document.baseURI).href);
            const P = window.__nnvisRelevance.strategies.cur.positions;
            return P.map(([x, y], i) => m.nearestPoint(P, x, y, 1) === i).filter((ok) => !ok).length; }""")
        assert reach == 0
        biggest = tab.js("window.__nnvisRelevance.strategies.cur.stacks[0].members")
        scatter.scroll_into_view_if_needed()
        box = scatter.bounding_box()
        for i in biggest[-2:]:  # two of the stacked members, each by hovering its own dot
            x, y = tab.js(f"window.__nnvisRelevance.strategies.cur.positions[{i}]")
            tab.page.mouse.move(box["x"] + x, box["y"] + y)
            tab.wait_for(f"() => document.querySelector('.nv-spray-preview figcaption').textContent.startsWith('example #{data['indices'][i]} ')")
            tooltip = tab.js("document.querySelector('.nv-tooltip').textContent")
            assert f"one of {want[0]} near-identical examples on one spot" in tooltip
        tab.page.mouse.click(box["x"] + x, box["y"] + y)
        tab.wait_for(f"() => document.querySelector('.nv-member-detail .nv-subject-title')?.textContent === 'Example #{data['indices'][biggest[-1]]}'")
    finally:
        tab.close()


def test_without_a_run_in_the_url_only_the_run_shown_is_asked(tb, browser):
    """The Strategies view waits for the tab's run instead of asking the first SpRAy run (``broken``) first."""
    import time
    import urllib.parse

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    asked = []
    page.on("request", lambda r: "/spray/" in r.url and "run=" in r.url and asked.append(
        urllib.parse.parse_qs(urllib.parse.urlsplit(r.url).query)["run"][0]))
    # the tab's own run list answers late, as on a big logdir: the SpRAy list is there first
    page.route("**/nnvis_relevance/tags", lambda route: (time.sleep(1.5), route.continue_()))
    try:
        page.goto(f"{tb}/#{PLUGIN}")
        find_frame(page, PLUGIN).wait_for_function("() => document.querySelector('.nv-spray-scatter')", timeout=30000)
        assert set(asked) == {"shortcut"}, asked
    finally:
        page.close()

"""The Activations dashboard on a big logdir, in headless Chromium, next to TensorBoard's own Images tab.

    python benchmarks/make_big_logdir.py /tmp/big/act           # the issue's 20 runs x 30 layers x 512 x 500
    python benchmarks/make_big_logdir.py /tmp/big/img --images
    python benchmarks/bench_dashboard.py /tmp/big [--loaders true,false] [--repeats 3]

Starts one warm ``tensorboard`` per loader on the parent folder (``act/`` and ``img/``) with
``--samples_per_plugin=nnvis_activations=500,images=500``, waits until every step is loaded, and then
measures, on a fresh page each time and a layer not viewed before (so no cache of ours is warm):

- Activations: from the plugin frame starting to load to the first grid drawn (goal <= 0.5 s), and from
  selecting a unit (once the overview's statistics have arrived) to its full filmstrip drawn, every step
  (goal <= 2 s);
- a scrub of the slider across every step in about 2 s (one step per animation frame or more): the longest
  gap between animation frames (the page stalling), the atlases it asked for, and the time from its end
  to the last step drawn; and how many runs and layers the sidebar lists;
- both tabs from TensorBoard's page load: to our first grid, and to the Images tab's first image;
- per image: our filmstrip time / steps, next to fetching and decoding every step of one image tag
  through TensorBoard's own image route from the same page (6 at a time, as a browser does).

Prints medians; the Images numbers come from the same server in the same run.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import helpers  # noqa: E402  (a real tensorboard process, as the tests use)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
PLUGIN = "nnvis_activations"
RUN = "act/run_00"
# Where the first grid's time goes, in the plugin frame's clock (0: the frame started): /tags, the first step's
# /maps and /atlas (start and end), and the module and style files loaded before the grid was drawn.
TIMELINE = """(first) => {
    const es = performance.getEntriesByType('resource');
    const span = (part) => { const e = es.find((e) => e.name.includes(part)); return e ? [e.startTime, e.responseEnd] : [NaN, NaN]; };
    const files = es.filter((e) => /[.](js|css)$/.test(e.name) && e.responseEnd <= first);
    return {tags: span('/tags'), maps: span('/maps?'), atlas: span('/atlas?'),
            files: Math.max(...files.map((e) => e.responseEnd)), count: files.length};
}"""


def plugin_frame(page):
    """The Activations plugin's iframe, once it exists."""
    while True:
        frame = next((f for f in page.frames if "plugin_entry" in f.url and PLUGIN in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(5)


def first_grid(page):
    """(frame start -> first grid drawn ms, TIMELINE at that moment) of a page opening our tab."""
    frame = plugin_frame(page)
    first = frame.wait_for_function(
        "() => window.__nnvisActivations && window.__nnvisActivations.cur && performance.now()",
        polling="raf", timeout=60000).json_value()
    return first, frame.evaluate(TIMELINE, first), frame


def timeline_text(rows):
    """Median timeline of TIMELINE dicts, as one line."""
    med = lambda f: statistics.median(f(t) for t in rows)  # noqa: E731
    return (f"/tags answered at {med(lambda t: t['tags'][1]):.0f} ms, first /maps asked at "
            f"{med(lambda t: t['maps'][0]):.0f} and answered at {med(lambda t: max(t['maps'][1], t['atlas'][1])):.0f} "
            f"ms (with /atlas); {med(lambda t: t['count']):.0f} module and style files in by then, the last at "
            f"{med(lambda t: t['files']):.0f} ms")


def wait_loaded(base, timeout=1800):
    """Until the first and last runs' last layers have every step, in both plugins."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            tags = helpers.get_json(base, f"/data/plugin/{PLUGIN}/tags")["runs"]
            layers = list(tags.get(RUN, {}))
            if len(tags) >= 20 and layers and all(
                    len(helpers.get_json(base, f"/data/plugin/{PLUGIN}/steps", run=f"act/{run}", layer=layers[-1])[
                        "steps"]) >= 500 and
                    len(helpers.get_json(base, "/data/plugin/images/images", run=f"img/{run}", tag=layers[-1])) >= 500
                    for run in ("run_00", sorted(tags)[-1].split("/")[-1])):
                return layers
        except (OSError, AssertionError, ValueError):
            pass
        time.sleep(5)
    raise RuntimeError("tensorboard did not load the logdir in time")


SCRUB = """async () => {
    const app = window.__nnvisActivations, steps = app.steps, frames = 120;
    const atlases = () => performance.getEntriesByType("resource").filter((e) => e.name.includes("/atlas?")).length;
    const before = atlases();
    let gap = 0, last = performance.now();
    for (let f = 1; f <= frames; f++) {
        await new Promise((ok) => requestAnimationFrame(ok));
        const now = performance.now();
        gap = Math.max(gap, now - last); last = now;
        app.setStep(steps[Math.round(f / frames * (steps.length - 1))]);
    }
    const end = performance.now();
    while (!(app.cur && app.cur.step === steps[steps.length - 1])) {
        await new Promise((ok) => requestAnimationFrame(ok));
        const now = performance.now();
        gap = Math.max(gap, now - last); last = now;
    }
    return [gap, atlases() - before, performance.now() - end];
}"""


def activations_once(browser, base, layer, unit):
    """(frame start -> first grid ms, page load -> first grid ms, unit click -> full filmstrip ms, steps,
    scrub: longest frame gap ms, atlases asked, scrub end -> last step drawn ms; sidebar counts)."""
    url = f"{base}/#{PLUGIN}&p.{PLUGIN}.run={RUN}&p.{PLUGIN}.layer={layer}"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(url)
        loaded = time.perf_counter()
        first, timeline, frame = first_grid(page)
        from_load = (time.perf_counter() - loaded) * 1000
        # As a person would: the unit is picked once the page has settled (the overview's statistics of every
        # step arrive after the first grid, and their drawing would be timed as the filmstrip's).
        frame.wait_for_function("() => performance.getEntriesByType('resource').some((e) => e.name.includes('/stats?'))",
                                timeout=60000)
        page.wait_for_timeout(500)
        frame.evaluate(f"() => {{ window.__t0 = performance.now(); window.__nnvisActivations.selectUnit({unit}); }}")
        steps = frame.evaluate("() => window.__nnvisActivations.steps.length")
        film = frame.wait_for_function(
            f"() => document.querySelector(\".nv-film[data-drawn='{steps}']\") && performance.now() - window.__t0",
            polling="raf", timeout=120000).json_value()
        gap, asked, settle = frame.evaluate(SCRUB)
        counts = frame.evaluate("""() => [`${document.querySelectorAll('.nv-run-list .nv-list-item').length} runs`,
            document.querySelector(`.nv-run-list .nv-list-item[data-key='${window.__nnvisActivations.S.run}']`)
                .textContent.includes('30 layers') ? 'the run with 30 layers' : 'not 30 layers',
            `${document.querySelectorAll('.nv-layer-list .nv-group-head').length} layer groups`]""")
        return first, from_load, film, steps, gap, asked, settle, counts, timeline
    finally:
        page.close()


def images_once(browser, base, tag):
    """(page load -> first image ms in the Images tab, ms per image fetched and decoded, images)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{base}/#images&_smoothingWeight=0&tagFilter={tag}$")
        loaded = time.perf_counter()
        page.locator("img[src*='individualImage']").first.wait_for(timeout=60000)
        page.wait_for_function("() => true")  # one more turn, as the locator polls
        first = (time.perf_counter() - loaded) * 1000
        per_image, count = page.evaluate("""async ([run, tag]) => {
            const list = await (await fetch(`data/plugin/images/images?run=${encodeURIComponent(run)}&tag=${encodeURIComponent(tag)}&sample=0`)).json();
            const t0 = performance.now();
            let next = 0;
            const worker = async () => {
                while (next < list.length) {
                    const item = list[next++];
                    const blob = await (await fetch(`data/plugin/images/individualImage?${item.query}`)).blob();
                    (await createImageBitmap(blob)).close();
                }
            };
            await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
            return [(performance.now() - t0) / list.length, list.length];
        }""", ["img/run_00", tag])
        return first, per_image, count
    finally:
        page.close()


def bench(logdir, load_fast, repeats, browser):
    extra = ["--samples_per_plugin=nnvis_activations=500,images=500"]
    with helpers.tensorboard(logdir, load_fast, extra=extra) as base:
        start = time.perf_counter()
        layers = wait_loaded(base)
        print(f"--load_fast={load_fast}: {len(layers)} layers of {RUN} loaded "
              f"({time.perf_counter() - start:.0f} s after the plugin was listed)")
        activations_once(browser, base, layers[0], 0)  # warms the browser and the server's code paths
        images_once(browser, base, layers[0])
        ours, theirs = [], []
        for r in range(repeats):
            layer = layers[1 + r]  # a layer not viewed before: no cache of ours helps
            ours.append(activations_once(browser, base, layer, 7 + r))
            theirs.append(images_once(browser, base, layer))
        med = lambda rows, i: statistics.median(row[i] for row in rows)  # noqa: E731
        steps, images = ours[0][3], theirs[0][2]
        print(f"  Activations: first grid {med(ours, 0):.0f} ms after the plugin frame started (goal <= 500), "
              f"{med(ours, 1):.0f} ms after TensorBoard's page load; full filmstrip of {steps} steps "
              f"{med(ours, 2):.0f} ms after selecting the unit (goal <= 2000), "
              f"{med(ours, 2) / steps:.2f} ms per image")
        print(f"  first grid's timeline after the frame started: {timeline_text([row[8] for row in ours])}")
        print(f"  scrub of {steps} steps in 120 frames: longest frame gap {med(ours, 4):.0f} ms, "
              f"{med(ours, 5):.0f} atlases asked, last step drawn {med(ours, 6):.0f} ms after the scrub; "
              f"sidebar: {', '.join(ours[0][7])}")
        print(f"  Images tab: first image {med(theirs, 0):.0f} ms after TensorBoard's page load; "
              f"{images} steps of one tag through its image route {med(theirs, 1):.2f} ms per image")
        print(f"  ratio per image, Activations filmstrip / Images route: {med(ours, 2) / steps / med(theirs, 1):.3f} "
              f"(goal <= 1); first drawn after page load, Activations / Images: {med(ours, 1) / med(theirs, 0):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir", help="folder holding act/ and img/ from make_big_logdir.py")
    parser.add_argument("--loaders", default="true,false", help="--load_fast values to measure")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for load_fast in args.loaders.split(","):
            bench(args.logdir, load_fast, args.repeats, browser)
        browser.close()


if __name__ == "__main__":
    main()

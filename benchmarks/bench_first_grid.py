"""The Activations tab's first grid, this working tree against an earlier commit, in the same run.

    python benchmarks/make_big_logdir.py /tmp/small/act --runs 3 --layers 8 --units 128 --steps 50 --distinct 5
    python benchmarks/bench_first_grid.py /tmp/small [--baseline 0675dcf] [--repeats 9] [--load_fast true]

Starts two warm ``tensorboard`` processes on the same logdir: one importing ``tb_nnvis`` (and so its
frontend) from this checkout, one from ``git archive BASELINE`` (default: the commit before the first grid's
data was fetched alongside the modules). Pages of the two alternate, each on a layer not viewed before in
that server, and each is timed from the plugin frame starting to the first grid drawn, with its per-request
timeline. Prints medians and the ratio new / baseline. Small logdirs suffice: the first grid reads one step.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_dashboard import ARGS, CHROMIUM, PLUGIN, first_grid, timeline_text  # noqa: E402
from tests import helpers  # noqa: E402


@contextlib.contextmanager
def tensorboard(logdir, load_fast, source):
    """A tensorboard whose ``tb_nnvis`` is imported from ``source`` (PYTHONPATH comes before the install)."""
    port = helpers.free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    proc = subprocess.Popen([exe, "--logdir", logdir, "--port", str(port), "--host", "127.0.0.1",
                             f"--load_fast={load_fast}"], env=dict(os.environ, PYTHONPATH=source),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if json.loads(helpers.get(base, "/data/plugins_listing")[2]).get(PLUGIN, {}).get("enabled"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("tensorboard did not list the Activations plugin in 120 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def checkout(rev, into):
    """``tb_nnvis/`` and ``frontend/`` of commit ``rev`` under ``into``."""
    archive = os.path.join(into, "src.tar")
    subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, rev, "tb_nnvis", "frontend"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def once(browser, base, run, layer):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{base}/#{PLUGIN}&p.{PLUGIN}.run={run}&p.{PLUGIN}.layer={layer}")
        first, timeline, _ = first_grid(page)
        return first, timeline
    finally:
        page.close()


def loaded(*bases, settle=10):
    """/tags of the first server once neither server's /tags has changed for ``settle`` seconds (a big logdir
    loads for a while, and a page timed while it does lists a growing logdir)."""
    last = None
    while True:
        now = [helpers.get_json(base, f"/data/plugin/{PLUGIN}/tags")["runs"] for base in bases]
        if now == last and now[0]:
            return now[0]
        last = now
        time.sleep(settle)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--baseline", default="0675dcf", help="commit to compare with")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--load_fast", default="true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        old_src = checkout(args.baseline, tmp)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        with tensorboard(args.logdir, args.load_fast, old_src) as old, \
                tensorboard(args.logdir, args.load_fast, ROOT) as new:
            runs = loaded(old, new)
            run = sorted(runs)[0]
            layers = list(runs[run])
            servers = {f"baseline {args.baseline}": old, "this tree": new}
            for base in servers.values():
                once(browser, base, run, layers[0])  # warms the browser and the server's code paths
            res = {name: [] for name in servers}
            for i in range(args.repeats):
                for name, base in servers.items():
                    res[name].append(once(browser, base, run, layers[1 + i % (len(layers) - 1)]))
        browser.close()
    print(f"--load_fast={args.load_fast}, {args.repeats} pages each, alternating; load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, rows in res.items():
        times = sorted(round(r[0]) for r in rows)
        print(f"  {name}: first grid {statistics.median(times):.0f} ms after the plugin frame started "
              f"(all: {times}); {timeline_text([r[1] for r in rows])}")
    old_ms, new_ms = (statistics.median(r[0] for r in rows) for rows in res.values())
    print(f"  ratio this tree / baseline: {new_ms / old_ms:.2f}")


if __name__ == "__main__":
    main()

"""A run restarted under the same name with other probe inputs. TensorBoard's Rust loader replaces a series'
steps from where a new session writes it again, so a layer that the new session has not written yet keeps the
first session's maps beside the new session's probe inputs: the dashboard must not draw that probe as if those
maps were computed on it. The Python loader keeps the first session's data for steps it has already seen
(probes included), which is consistent and shown as it is.
"""
import numpy as np
import pytest

from tests import helpers
from tests.browser.conftest import needs_chromium
from tests.browser.test_activations_ui import Tab, deep_link

pytestmark = needs_chromium


def _write_session(path, summaries_by_step, wall_time):
    """One event file with explicit wall times (TensorBoard's record format, written by TensorFlow)."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString())
        for step, summaries in sorted(summaries_by_step.items()):
            for s in summaries:
                writer.write(event_pb2.Event(step=step, wall_time=wall_time + step, summary=s).SerializeToString())


@pytest.fixture(scope="module")
def restarted_logdir(tmp_path_factory):
    from tb_nnvis import summary

    run = tmp_path_factory.mktemp("restart") / "run"
    run.mkdir()
    rng = np.random.default_rng(0)
    old = {0: [summary.probe_inputs_pb(np.zeros((2, 8, 8, 3)))]}
    new = {0: [summary.probe_inputs_pb(np.ones((2, 8, 8, 3)))]}
    for step in range(5):
        old.setdefault(step, []).append(summary.activations_pb("conv", rng.random((2, 4, 4, 3))))
        old[step].append(summary.activations_pb("pool", rng.random((2, 2, 2, 3))))
    for step in range(3):  # the new session has written conv only
        new.setdefault(step, []).append(summary.activations_pb("conv", rng.random((2, 4, 4, 3))))
    # Feature visualizations of both layers, so that its unit panel shows the Activations tab's maps too.
    old[4].append(summary.feature_images_pb("pool", rng.random((3, 6, 6, 3)), [0, 1, 2], [1.0, 2.0, 3.0]))
    new[2].append(summary.feature_images_pb("conv", rng.random((3, 6, 6, 3)), [0, 1, 2], [1.0, 2.0, 3.0]))
    _write_session(run / "events.out.tfevents.1000000000.first", old, 1_000_000_000.0)
    _write_session(run / "events.out.tfevents.1000001000.second", new, 1_000_001_000.0)
    return run.parent


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_maps_of_an_earlier_session_are_not_drawn_beside_the_later_session_s_probe(restarted_logdir, browser,
                                                                                   load_fast):
    with helpers.tensorboard(restarted_logdir, load_fast=load_fast) as base:
        def steps(layer):
            return [s["step"] for s in helpers.get_json(base, "/data/plugin/nnvis_activations/steps",
                                                        run="run", layer=layer)["steps"]]

        probes = helpers.get_json(base, "/data/plugin/nnvis_activations/tags")["probe_inputs"]["run"]
        if load_fast == "true":   # the second session's probes and conv maps; pool only from the first
            assert probes["wall_time"] == pytest.approx(1_000_001_000.0)
            assert steps("conv") == [0, 1, 2] and steps("pool") == [0, 1, 2, 3, 4]
            stale_layers = {"pool"}
        else:                     # the first session's probes and maps throughout
            assert probes["wall_time"] == pytest.approx(1_000_000_000.0)
            assert steps("conv") == steps("pool") == [0, 1, 2, 3, 4]
            stale_layers = set()
        for layer, step in [("conv", 0), ("conv", 2), ("pool", 1), ("pool", 4)]:
            tab = Tab(browser, deep_link(base, run="run", layer=layer, step=step))
            try:
                tab.wait_loaded()
                stale = tab.frame.locator(".nv-probe-stale")
                image = tab.frame.locator(".nv-probe-card img.nv-probe-img")
                if layer in stale_layers:
                    assert stale.is_visible() and "restarted" in stale.text_content()
                    assert not image.is_visible()
                else:
                    assert stale.is_hidden()
                    image.wait_for(state="visible", timeout=10000)
                assert not tab.errors, tab.errors
            finally:
                tab.close()


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_feature_visualization_unit_panel_does_not_show_the_later_session_s_probes_either(restarted_logdir, browser,
                                                                                          load_fast):
    from tests.browser.test_featvis_ui import Page, link

    with helpers.tensorboard(restarted_logdir, load_fast=load_fast) as base:
        # Rust loader: pool's maps are the first session's, under the second session's probes (see above)
        stale_layers = {"pool"} if load_fast == "true" else set()
        for layer in ["conv", "pool"]:
            tab = Page(browser, link(base, run="run", layer=layer, unit=1))
            try:
                tab.frame.wait_for_function("() => document.querySelectorAll('.nv-fv-map canvas').length === 2")
                warning = tab.frame.locator(".nv-fv-acts .nv-probe-stale")
                if layer in stale_layers:
                    assert "restarted" in warning.text_content()
                    assert tab.frame.locator(".nv-fv-map-input").count() == 0
                else:
                    assert warning.count() == 0 and tab.frame.locator(".nv-fv-map-input").count() == 2
            finally:
                tab.close()

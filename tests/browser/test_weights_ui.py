"""Weights beside activity in the Activations tab, in headless Chromium against a real ``tensorboard``: the
unit's filter beside its map (colour for the first layer, channels strongest first deeper), the weight
dynamics small multiples, and top examples cropped to the receptive field with the whole image on hover."""
import json

import numpy as np
import pytest

from tests import helpers
from tests.browser.conftest import needs_chromium
from tests.browser.test_activations_ui import Tab, deep_link

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def tb(trained_with_weights):
    with helpers.tensorboard(trained_with_weights["logdir"], load_fast="false") as base:
        yield base


@pytest.fixture(scope="module")
def trained_with_weights():
    from tests.plugins import weights_logs

    return weights_logs.weights_logdir()


def open_unit(browser, base, layer, unit, dark=False):
    tab = Tab(browser, deep_link(base, run="cnn", layer=layer, unit=unit), dark=dark)
    tab.wait_loaded()
    tab.frame.wait_for_selector(".nv-unit-weights:not([hidden]) .nv-weights-body > *", timeout=30000)
    return tab


def test_first_layer_filter_in_colour_beside_the_map(browser, tb, trained_with_weights):
    tab = open_unit(browser, tb, "conv1", 4)
    box = tab.frame.locator(".nv-unit-weights")
    assert box.get_attribute("data-mode") == "rgb" and box.get_attribute("data-step") == "8"
    # the pixels drawn are the kernel: grey at 0, 255 at +max|w| per channel
    kernel = trained_with_weights["model"].get_layer("conv1").get_weights()[0][..., 4]  # [3, 3, 3]
    m = np.abs(kernel).max()
    drawn = np.array(tab.js("""(() => { const c = document.querySelector('.nv-weights-rgb');
        const s = c.width / 3, g = c.getContext('2d'), out = [];
        for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) {
          const d = g.getImageData(x * s + s / 2, y * s + s / 2, 1, 1).data; out.push([d[0], d[1], d[2]]); }
        return out; })()""")).reshape(3, 3, 3)
    assert np.abs(drawn - np.round(127.5 + 127.5 * kernel / m)).max() <= 1
    # beside the map: inside the unit panel, between the readout and the statistics
    order = tab.js("""[...document.querySelector('.nv-detail').children].map(e => e.className)""")
    assert order.index("nv-card nv-unit-weights") < next(i for i, c in enumerate(order) if "nv-stats" in c)
    assert not tab.errors and not tab.dialogs
    tab.page.close()


def test_deeper_kernels_per_channel_strongest_first(browser, tb, trained_with_weights):
    tab = open_unit(browser, tb, "conv2", 3, dark=True)
    channels = [int(c) for c in tab.frame.locator(".nv-weights-cell").evaluate_all(
        "els => els.map(e => e.dataset.channel)")]
    kernel = trained_with_weights["model"].get_layer("conv2").get_weights()[0][..., 3]
    assert channels == np.argsort(-np.sqrt((kernel ** 2).sum(axis=(0, 1)))).tolist()
    assert "strongest first" in tab.frame.locator(".nv-unit-weights .nv-hint").inner_text()
    tab.page.close()


def test_weight_dynamics_small_multiples_flag_layers_out_of_range(browser, tb):
    tab = open_unit(browser, tb, "conv1", 0)
    tab.frame.wait_for_selector(".nv-dynamics-card:not([hidden]) .nv-dyn-panel", timeout=30000)
    dyn = helpers.get_json(tb, "/data/plugin/nnvis_activations/weight_dynamics", run="cnn")
    panels = tab.frame.locator(".nv-dyn-panel")
    assert panels.evaluate_all("els => els.map(e => e.dataset.layer)") == list(dyn["layers"])
    flagged = panels.evaluate_all("els => els.filter(e => e.classList.contains('nv-dyn-flagged')).map(e => e.dataset.layer)")
    assert flagged == [k for k, v in dyn["layers"].items() if v["flagged"]]
    assert tab.frame.locator(".nv-dyn-panel canvas.nv-dyn-chart").count() == 2 * len(dyn["layers"])
    tab.page.close()


def test_top_examples_are_receptive_field_crops_with_the_image_on_hover(browser, tb):
    tab = open_unit(browser, tb, "conv2", 2)
    tab.frame.wait_for_selector(".nv-top-img.nv-cropped", timeout=30000)
    top = helpers.get_json(tb, "/data/plugin/nnvis_activations/top", run="cnn", layer="conv2", unit=2, step=8)
    boxes = tab.frame.locator(".nv-top-img.nv-cropped")
    assert boxes.count() == len(top["examples"])
    assert [json.loads(c) for c in boxes.evaluate_all("els => els.map(e => e.dataset.crop)")] == \
        [e["crop"] for e in top["examples"]]
    first = boxes.first
    cropped = first.locator("img").bounding_box()
    assert cropped["width"] > first.bounding_box()["width"] * 1.3  # zoomed in on the field
    first.hover()
    tab.page.wait_for_timeout(100)
    whole = first.locator("img").bounding_box()
    assert abs(whole["width"] - first.bounding_box()["width"]) < 1  # the whole image on hover
    assert first.locator(".nv-crop-frame").is_visible()
    tab.page.close()

"""TensorBoard's own Graphs and Projector tabs show what tb_nnvis writes for Keras 3 models: headless Chromium
(Debian's) against a real ``tensorboard``."""
import keras
import numpy as np
import pytest

from tb_nnvis import projector
from tb_nnvis.core import graph_def
from tests import helpers
from tests.browser.conftest import needs_chromium

pytestmark = needs_chromium


def functional():
    inp = keras.Input((8, 8, 3), name="image")
    block_in = keras.Input((8, 8, 4))
    block = keras.Model(block_in, keras.layers.Conv2D(4, 3, padding="same", name="block_conv")(block_in),
                        name="res_block")
    stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    x = keras.layers.Add(name="residual_add")([stem, block(stem)])
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    return keras.Model(inp, keras.layers.Dense(3, name="class_logits")(x), name="resnetish")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    keras.utils.set_random_seed(5)
    root = tmp_path_factory.mktemp("tbtabs")
    model = functional()
    graph_def.write_graph(root / "functional", model)
    graph_def.write_graph(root / "sequential", keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(5, name="seq_hidden"), keras.layers.Dense(2, name="seq_out")]))
    x = np.random.default_rng(5).random((40, 8, 8, 3)).astype("float32")
    labels = np.array(["circle", "square", "<b>tri</b>", "star"])[np.arange(40) % 4]
    projector.log_activations(root / "functional", model, "pooled", x, labels=labels, step=0)
    projector.log_activations(root / "functional", model, "res_block/block_conv", x, labels=labels, step=0)
    return root


@pytest.fixture(scope="module")
def base(logdir):
    # The Python loader here; both loaders serve the same graph and projector data
    # (tests/plugins/test_weights_http.py).
    with helpers.tensorboard(logdir, "false", plugin="graphs") as url:
        yield url


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors, responses = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: responses.append((r.url, r.status, r.headers.get("content-type", ""))))
    page.goto(url)
    return page, errors, responses


def graph_labels(page):
    """The full names of the nodes drawn in the Graphs tab's SVG (inside shadow roots, which locators pierce);
    a label shows its text, maybe cut short with "…", and keeps the full name in a <title>."""
    return set(page.locator("svg text.nodelabel").evaluate_all(
        "els => els.map(t => (t.querySelector('title') || t).textContent)"))


def test_graphs_tab_shows_layers_and_the_nested_group(browser, base):
    page, errors, _ = open_page(browser, f"{base}/#graphs")  # the first run
    page.locator("svg text.nodelabel", has_text="residual_add").first.wait_for(timeout=30000)
    labels = graph_labels(page)
    assert {"image", "stem", "residual_add", "pooled", "class_logits", "res_block"} <= labels, labels
    assert "block_conv" not in labels  # inside the closed group
    page.locator('svg g.node.meta[data-name="res_block"] rect.nodecolortarget').first.dblclick()  # expand
    page.locator("svg text.nodelabel", has_text="block_conv").first.wait_for(timeout=15000)
    page.close()

    page, more_errors, _ = open_page(browser, f"{base}/#graphs")
    page.locator("svg text.nodelabel").first.wait_for(timeout=30000)
    item = page.locator("paper-item", has_text="sequential").first
    page.locator("paper-dropdown-menu", has=item).first.click()  # the Run menu
    item.click()
    page.locator("svg text.nodelabel", has_text="seq_hidden").first.wait_for(timeout=30000)
    assert {"seq_hidden", "seq_out"} <= graph_labels(page)
    page.close()
    assert not errors + more_errors


def test_projector_lists_the_tensors_with_points_labels_and_sprite(browser, base):
    page, errors, responses = open_page(browser, f"{base}/#projector")
    root = None
    for _ in range(300):  # the Projector runs in an iframe inside the plugin's iframe
        root = next((f for f in page.frames if "projector_binary" in f.url), None)
        if root is not None:
            break
        page.wait_for_timeout(100)
    assert root is not None, [f.url for f in page.frames]
    root.locator("text=2 tensors found").first.wait_for(timeout=30000)
    root.locator("text=Points: 40").first.wait_for(timeout=30000)
    assert root.locator("text=Dimension: 4").count()  # the pooled layer: 4 units
    for name in ("pooled @ step 0", "res_block/block_conv @ step 0"):  # the tensor menu's items
        assert root.locator("paper-item", has_text=name).count() == 1, name
    sprites = [r for r in responses if "/sprite_image" in r[0]]
    metadata = [r for r in responses if "/data/plugin/projector/metadata" in r[0]]
    assert sprites and all(s[1] == 200 and s[2].startswith("image/png") for s in sprites), sprites
    assert metadata and all(m[1] == 200 for m in metadata)
    # points are labelled by the metadata's first column, our labels
    chosen = root.locator("paper-item.iron-selected").evaluate_all("els => els.map(e => e.textContent.trim())")
    assert "label" in chosen, chosen
    page.close()
    assert not errors

"""The Feature visualization plugin over real HTTP, with both of TensorBoard's loaders."""
import json

import numpy as np
import pytest

from tb_nnvis.core.images import decode_png
from tests import helpers
from tests.plugins.featvis_logs import XSS_LAYER, featvis_logdir

P = "/data/plugin/nnvis_featvis"


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request):
    logs = featvis_logdir()
    with helpers.tensorboard(logs["logdir"], load_fast=request.param, plugin="nnvis_featvis") as base:
        yield base, logs


def test_tags_list_layers_units_and_diversity(server):
    base, _ = server
    runs = helpers.get_json(base, P + "/tags")["runs"]
    assert runs["cnn"]["conv1"] == {"units": 16, "shape": [16, 32, 32, 3], "diversity": True}
    assert runs["cnn"]["conv2"]["units"] == 32 and runs["cnn"]["conv2"]["diversity"] is True
    assert XSS_LAYER in runs["odd"]
    listing = helpers.get_json(base, "/data/plugins_listing")
    assert listing["nnvis_featvis"]["tab_name"] == "Feature visualization"


def test_grid_and_atlas_hold_the_callbacks_images(server):
    base, logs = server
    steps = [s["step"] for s in helpers.get_json(base, P + "/steps", run="cnn", layer="conv2")["steps"]]
    assert steps == logs["callback"].written_steps == [0, 4, 8]
    grid = helpers.get_json(base, P + "/grid", run="cnn", layer="conv2", step=8)
    assert grid["units"] == list(range(32)) and grid["shape"] == [32, 32, 32, 3]
    assert grid["value_range"] == [0.0, 1.0] and grid["transparency"] is True
    rows, cols = grid["grid"]
    status, kind, png = helpers.get(base, P + "/atlas", run="cnn", layer="conv2", step=8)
    assert status == 200 and kind == "image/png"
    atlas = decode_png(png)
    assert atlas.shape == (rows * 32, cols * 32, 3)
    # The values are what the model gives on the stored images (within 8-bit quantisation).
    import keras

    model = logs["model"]
    tiles = [atlas[(i // cols) * 32:(i // cols + 1) * 32, (i % cols) * 32:(i % cols + 1) * 32] for i in range(32)]
    images = np.stack(tiles).astype("float32") / 255
    conv2 = keras.Model(model.inputs[0], model.get_layer("conv2").output)
    means = conv2(images).numpy().mean(axis=(1, 2))[np.arange(32), grid["units"]]
    np.testing.assert_allclose(means, grid["values"], rtol=0.05, atol=0.05 * max(1e-3, np.max(grid["values"])))
    alpha = decode_png(helpers.get(base, P + "/atlas", run="cnn", layer="conv2", step=8, which="transparency")[2])
    assert alpha.shape[:2] == (rows * 32, cols * 32) and alpha.max() == 255


def test_unit_filmstrip_and_diversity(server):
    base, _ = server
    unit = helpers.get_json(base, P + "/unit", run="cnn", layer="conv1", unit=5)
    assert [r["step"] for r in unit["steps"]] == [0, 4, 8] and all(r["tiles"] == [5] for r in unit["steps"])
    div = helpers.get_json(base, P + "/grid", run="cnn", layer="conv2", step=0, kind="diversity")
    assert div["units"] == [0, 0, 1, 1]
    strip = helpers.get_json(base, P + "/unit", run="cnn", layer="conv2", unit=1, kind="diversity")
    assert strip["steps"][0]["tiles"] == [2, 3]


def test_html_names_and_nan_values_come_back_as_data(server):
    base, _ = server
    grid = helpers.get_json(base, P + "/grid", run="odd", layer=XSS_LAYER, step=10)
    assert grid["objective"] == "<b>obj</b>" and grid["values"][1] == "NaN" and grid["transparency"] is False
    assert grid["origin"] == [0, 0, 2]
    assert decode_png(helpers.get(base, P + "/atlas", run="odd", layer=XSS_LAYER, step=10)[2]).shape == (12, 12, 3)


@pytest.mark.parametrize("path,params,code,message", [
    ("/grid", {"run": "nope", "layer": "conv1", "step": 0}, 404, "no feature visualizations (images) for run 'nope'"),
    ("/grid", {"run": "cnn", "layer": "nope", "step": 0}, 404, "no feature visualizations (images) of layer 'nope'"),
    ("/grid", {"run": "cnn", "layer": "conv1", "step": 3}, 404, "step 3 of layer 'conv1' in run 'cnn' is not loaded"),
    ("/grid", {"run": "cnn", "layer": "conv1"}, 400, "missing query parameter 'step'"),
    ("/grid", {"run": "cnn", "layer": "conv1", "step": 0, "kind": "x"}, 400, "kind must be one of"),
    ("/grid", {"run": "odd", "layer": XSS_LAYER, "step": 0, "kind": "diversity"}, 404, "no feature visualizations (diversity)"),
    ("/atlas", {"run": "cnn", "layer": "conv1", "step": 0, "which": "x"}, 400, "which must be"),
    ("/atlas", {"run": "odd", "layer": XSS_LAYER, "step": 0, "which": "transparency"}, 404, "no transparency"),
    ("/unit", {"run": "cnn", "layer": "conv1", "unit": 99}, 404, "unit 99 of layer 'conv1' has no"),
    ("/grid", {"run": "malformed", "layer": "broken", "step": 0}, 400, "malformed feature visualization"),
])
def test_bad_requests_get_clear_messages(server, path, params, code, message):
    base, _ = server
    status, kind, body = helpers.get(base, P + path, **params)
    assert status == code and kind.startswith("application/json")
    assert message in json.loads(body)["error"]


def test_frontend_is_served(server):
    base, _ = server
    status, kind, body = helpers.get(base, P + "/index.js")
    assert status == 200 and "javascript" in kind and b"featvis" in body

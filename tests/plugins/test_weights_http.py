"""Weights beside activity, through a real ``tensorboard`` (both loaders): kernels equal the layers' weights,
update ratios equal an independent computation from two weight snapshots, receptive-field crops of top
examples, and the graph and projector options of the callback."""
import json
import logging

import keras
import numpy as np
import pytest

from tb_nnvis.core import images
from tb_nnvis.keras import ActivationsCallback
from tests import helpers
from tests.plugins import weights_logs

P = "/data/plugin/nnvis_activations"
@pytest.fixture(scope="module")
def trained():
    return weights_logs.weights_logdir()


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, trained):
    with helpers.tensorboard(trained["logdir"], request.param) as base:
        yield base, trained


def kernel_at(trained, layer, step):
    """The layer's kernel at a written step, from the independent snapshots (or the model at the end)."""
    if step == 8:
        return trained["model"].get_layer(layer).get_weights()[0]
    return trained["snaps"].after[step][layer][0]


def test_kernels_equal_the_layers_weights(server):
    base, trained = server
    everything = helpers.get_json(base, P + "/tags")
    tags = everything["runs"]["cnn"]
    assert tags["conv1"]["weights"] and tags["logits"]["weights"] and not tags["pool1"]["weights"]
    assert everything["weight_dynamics"] == ["cnn"]  # the dashboard asks /weight_dynamics only for these
    for step in (4, 8):
        kernel = kernel_at(trained, "conv1", step)
        for unit in (0, 5):
            got = helpers.get_json(base, P + "/weights", run="cnn", layer="conv1", unit=unit, step=step)
            assert got["mode"] == "rgb" and got["step"] == step and got["steps"] == [0, 4, 8]
            np.testing.assert_array_equal(np.array(got["values"], np.float32), kernel[..., unit])
            assert got["range"][1] == pytest.approx(np.abs(kernel[..., unit]).max())
    conv2 = kernel_at(trained, "conv2", 8)[..., 3]  # [3, 3, 6]: channels strongest first
    got = helpers.get_json(base, P + "/weights", run="cnn", layer="conv2", unit=3, channels=4)
    norms = np.sqrt((conv2 ** 2).sum(axis=(0, 1)))
    assert got["mode"] == "channels" and got["count"] == 6
    assert [c["channel"] for c in got["channels"]] == np.argsort(-norms)[:4].tolist()
    for c in got["channels"]:
        np.testing.assert_array_equal(np.array(c["values"], np.float32), conv2[..., c["channel"]])
    dense = helpers.get_json(base, P + "/weights", run="cnn", layer="logits", unit=1)
    assert dense["mode"] == "vector"
    np.testing.assert_array_equal(np.array(dense["values"], np.float32), kernel_at(trained, "logits", 8)[:, 1])


def test_update_ratios_equal_two_snapshots(server):
    base, trained = server
    dyn = helpers.get_json(base, P + "/weight_dynamics", run="cnn")
    assert list(dyn["layers"]) == ["conv1", "conv2", "logits"]
    assert dyn["band"] == [1e-4, 1e-2]
    snaps = trained["snaps"]
    for layer, entry in dyn["layers"].items():
        assert entry["steps"] == [0, 4, 8] and entry["ratio_steps"] == [4, 8]
        expected = []
        for step in (4, 8):
            before, after = snaps.before[step][layer], snaps.after[step][layer]
            num = np.sqrt(sum(((a.astype(np.float64) - b) ** 2).sum() for a, b in zip(after, before)))
            expected.append(num / np.sqrt(sum((b.astype(np.float64) ** 2).sum() for b in before)))
        np.testing.assert_allclose(entry["ratios"], expected, rtol=1e-5)
        assert entry["flagged"] == (not 1e-4 <= expected[-1] <= 1e-2)
        kernel = kernel_at(trained, layer, 8)
        norms = np.sqrt((kernel.reshape(-1, kernel.shape[-1]) ** 2).sum(axis=0))
        np.testing.assert_allclose(entry["norms"][-1], norms, rtol=1e-6)


def test_top_examples_come_with_receptive_field_crops(server):
    base, _ = server
    top = helpers.get_json(base, P + "/top", run="cnn", layer="conv2", unit=2)
    assert top["examples"]
    for e in top["examples"]:  # conv 3x3, pool 2, conv 3x3: the unit at (y, x) sees rows 2y..2y+7
        assert e["crop"] == [[2 * e["y"], 2 * e["y"] + 8], [2 * e["x"], 2 * e["x"] + 8]]
    dense = helpers.get_json(base, P + "/top", run="cnn", layer="logits", unit=0)
    assert all(e["crop"] == [[0, 12], [0, 12]] for e in dense["examples"])


@pytest.mark.parametrize("path,params,code,message", [
    ("/weights", dict(run="cnn", layer="pool1", unit=0), 404, "no layer 'pool1'"),
    ("/weights", dict(run="cnn", layer="conv1", unit=6), 404, "unit 6 is out of range"),
    ("/weights", dict(run="cnn", layer="conv1", unit="x"), 400, "'unit' must be an integer"),
    ("/weight_dynamics", dict(run="nope"), 404, "run 'nope' has no weight dynamics"),
    ("/weight_dynamics", dict(), 400, "missing query parameter 'run'"),
])
def test_bad_requests_get_clear_errors(server, path, params, code, message):
    base, _ = server
    status, kind, body = helpers.get(base, P + path, **params)
    assert status == code and kind.startswith("application/json")
    assert message in json.loads(body)["error"]


def test_graph_and_projector_options_reach_tensorboards_tabs(server):
    base, trained = server
    assert helpers.get_json(base, "/data/plugin/graphs/info")["cnn"]["run_graph"]
    status, _, body = helpers.get(base, "/data/plugin/graphs/graph", run="cnn", conceptual="false")
    assert status == 200 and b'"conv2"' in body and b'op: "Conv2D"' in body
    info = helpers.get_json(base, "/data/plugin/projector/info", run="cnn")
    assert {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]} == {
        "gap @ step 0": [64, 8], "logits @ step 0": [64, 2], "gap @ step 8": [64, 8], "logits @ step 8": [64, 2]}
    # the points are the layer's output on the inputs (the trained model: step 8)
    status, _, body = helpers.get(base, "/data/plugin/projector/tensor", run="cnn", name="logits @ step 8")
    model, x = trained["model"], trained["x"]
    expected = keras.Model(model.inputs[0], model.get_layer("logits").output)(x).numpy()
    assert status == 200
    np.testing.assert_allclose(np.frombuffer(body, np.float32).reshape(64, 2), expected, rtol=1e-4, atol=1e-5)
    status, _, body = helpers.get(base, "/data/plugin/projector/metadata", run="cnn", name="gap @ step 8")
    rows = body.decode().splitlines()
    labels = (x[..., 0].mean(axis=(1, 2)) > 0.5).astype(int)
    assert status == 200 and rows[0] == "label\tindex" and rows[1:] == [f"{v}\t{i}" for i, v in enumerate(labels)]
    status, kind, body = helpers.get(base, "/data/plugin/projector/sprite_image", run="cnn", name="gap @ step 8")
    sprite = images.decode_png(body)
    assert status == 200 and kind == "image/png" and sprite.shape == (96, 96, 3)  # 8 x 8 thumbnails of 12 x 12
    np.testing.assert_array_equal(sprite[:12, 12:24], images.to_display_image(x[1]))


def test_what_cannot_be_logged_is_a_warning_and_training_goes_on(tmp_path, caplog):
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    x = np.ones((8, 3), "float32")
    model = Subclassed()
    model.compile("sgd", "mse")
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        history = model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[
            ActivationsCallback(tmp_path / "sub", probes=x[:2], graph=True, weights=True)])
    assert len(history.history["loss"]) == 2
    assert "subclassed" in caplog.text

    caplog.clear()
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d"), keras.layers.Dropout(0.1, name="drop"),
                            keras.layers.Activation("relu", name="act")])
    seq.compile("sgd", "mse")
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        history = seq.fit(x, np.ones((8, 4)), epochs=1, verbose=0, callbacks=[
            ActivationsCallback(tmp_path / "seq", probes=x[:2], layers=["act"], weights=True)])
    assert len(history.history["loss"]) == 1
    assert "none of the tapped layers (act) has per-unit weights" in caplog.text
    with pytest.raises(ValueError, match='projector must be a dict with at least "inputs"'):
        ActivationsCallback(tmp_path, probes=x[:2], projector=x)

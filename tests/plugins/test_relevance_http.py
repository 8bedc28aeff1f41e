"""The Relevance plugin over real HTTP: a ``tensorboard`` process (both loaders) on a logdir the callback wrote."""
import numpy as np
import pytest

from tb_nnvis.lrp import attribute
from tests import helpers
from tests.plugins import relevance_logs

P = "/data/plugin/nnvis_relevance"


@pytest.fixture(scope="module")
def logs():
    return relevance_logs.relevance_logdir()


@pytest.fixture(scope="module", params=["false", "true"])
def tb(request, logs):
    with helpers.tensorboard(logs["logdir"], load_fast=request.param, plugin="nnvis_relevance") as base:
        yield base


def test_tags_list_probe_sets_composites_and_unit_layers(tb):
    tags = helpers.get_json(tb, P + "/tags")
    cnn = tags["runs"]["cnn"]["probes"]
    assert cnn["kind"] == "image" and cnn["composites"] == ["epsilon_plus", "epsilon"] and cnn["probes"] == 4
    assert cnn["units"] == {"epsilon_plus": ["conv2"], "epsilon": ["conv2"]}
    assert cnn["unit_heatmaps"] == {"epsilon_plus": ["conv2"], "gradient_x_input": ["conv2"]}
    assert tags["unit_heatmaps"]["cnn"] == {"conv2": {"name": "probes", "composite": "epsilon_plus",
                                                      "composites": ["epsilon_plus", "gradient_x_input"]}}
    assert tags["runs"]["text"]["documents"]["kind"] == "text"
    assert "broken" in tags["runs"]  # listed; its data gives a 400 when read


def test_image_data_and_relevance_bytes_equal_attribute(tb, logs):
    model, probes, _, cb = logs["cnn"]
    steps = helpers.get_json(tb, P + "/steps", run="cnn", name="probes", composite="epsilon")
    assert [s["step"] for s in steps["steps"]] == cb.written_steps and "--samples_per_plugin" in steps["hint"]
    last = cb.written_steps[-1]
    data = helpers.get_json(tb, P + "/data", run="cnn", name="probes", composite="epsilon", step=last)
    assert data["shape"] == [4, 4, 12, 12] and data["class_names"][3] == relevance_logs.XSS_CLASS
    np.testing.assert_allclose(data["scores"], model(probes).numpy(), rtol=1e-4, atol=1e-5)
    status, kind, body = helpers.get(tb, P + "/relevance", run="cnn", name="probes", composite="epsilon", step=last,
                                     probe=2)
    assert status == 200 and kind.startswith("application/octet-stream")
    rel = np.frombuffer(body, "<f4").reshape(4, 12, 12)
    targets = np.asarray(data["targets"])
    for j in range(4):
        expected = attribute(model, probes[2:3], target=[int(targets[2, j])], composite="epsilon")[0].sum(-1)
        np.testing.assert_allclose(rel[j], expected, rtol=1e-4, atol=1e-6)
    status, kind, png = helpers.get(tb, P + "/input", run="cnn", name="probes", composite="epsilon", step=last, probe=0)
    assert status == 200 and kind == "image/png" and png[:4] == b"\x89PNG"


def test_text_data_carries_tokens_and_nan_past_the_end(tb):
    data = helpers.get_json(tb, P + "/data", run="odd", name="nan text", composite="lrp", step=5)
    assert data["tokens"] == [["fine", "<b>x</b>"], ["a"]]
    assert data["relevance"][0][0][0] == "NaN" and data["relevance"][1][0][1] == "NaN"
    assert data["relevance"][0][0][1] == 1.0


def test_units_and_unit_heatmap(tb, logs):
    _, _, _, cb = logs["cnn"]
    last = cb.written_steps[-1]
    units = helpers.get_json(tb, P + "/units", run="cnn", name="probes", composite="epsilon_plus", layer="conv2",
                             step=last, probe=1)
    data = helpers.get_json(tb, P + "/data", run="cnn", name="probes", composite="epsilon_plus", step=last)
    assert units["targets"] == data["targets"][1] and len(units["values"]) == 4 and len(units["values"][0]) == 8
    hm = helpers.get_json(tb, P + "/unit_heatmap", run="cnn", layer="conv2", step=last + 1000, probe=0, unit=2)
    assert hm["step"] == last and hm["shape"] == [12, 12] and len(hm["values"]) == 144
    assert hm["name"] == "probes" and hm["composite"] == "epsilon_plus"
    grad = helpers.get_json(tb, P + "/unit_heatmap", run="cnn", layer="conv2", step=last, probe=0, unit=2,
                            composite="gradient_x_input")
    assert grad["composite"] == "gradient_x_input" and grad["values"] != hm["values"]


@pytest.mark.parametrize("path, params, code, message", [
    ("/data", dict(run="nope", name="probes", composite="epsilon", step=0), 404, "no relevance data for run 'nope'"),
    ("/data", dict(run="cnn", name="nope", composite="epsilon", step=0), 404, "no probe set 'nope'"),
    ("/data", dict(run="cnn", name="probes", composite="epsilon", step=999), 404, "step 999"),
    ("/data", dict(run="cnn", name="probes", composite="epsilon", step="x"), 400, "must be an integer"),
    ("/data", dict(run="cnn", name="probes", composite="epsilon"), 400, "missing query parameter 'step'"),
    ("/relevance", dict(run="cnn", name="probes", composite="epsilon", step=0, probe=9), 404, "probe 9 is out of range"),
    ("/relevance", dict(run="text", name="documents", composite="epsilon_plus", step=0, probe=0), 400, "image"),
    ("/units", dict(run="cnn", name="probes", composite="epsilon", layer="conv1", step=0, probe=0), 404, "conv1"),
    ("/unit_heatmap", dict(run="cnn", layer="conv2", step=0, probe=0, unit=7), 404, "unit 7"),
    ("/unit_heatmap", dict(run="cnn", layer="conv2", step=0, probe=0, unit=1, composite="nope"), 404, "by 'nope'"),
    ("/data", dict(run="broken", name="garbage", composite="lrp", step=0), 400, "malformed relevance data"),
    ("/static/../../setup.py", {}, 404, "no static file"),
])
def test_bad_requests_get_a_message_not_a_500(tb, path, params, code, message):
    import json

    status, kind, body = helpers.get(tb, P + path, **params)
    assert status == code, body
    assert message in json.loads(body)["error"]

"""A real ``tensorboard`` process, both loaders: the tab is listed and every route answers correctly."""
import json

import keras
import numpy as np
import pytest

from tb_nnvis.core import images
from tb_nnvis.plugins.activations import encoding
from tests import helpers
from tests.conftest import XSS_LAYER

P = "/data/plugin/nnvis_activations"


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, activations_logdir):
    with helpers.tensorboard(activations_logdir["logdir"], request.param) as base:
        yield base, activations_logdir


def test_tab_is_listed_as_an_es_module(server):
    base, _ = server
    listing = json.loads(helpers.get(base, "/data/plugins_listing")[2])["nnvis_activations"]
    assert listing["enabled"] and listing["tab_name"] == "Activations"
    assert listing["loading_mechanism"] == {"type": "CUSTOM_ELEMENT", "element_name": None} or \
        listing["loading_mechanism"]["type"] == "IFRAME"
    status, kind, body = helpers.get(base, P + "/index.js")
    assert status == 200 and kind.startswith("text/javascript") and b"render" in body


def test_tags_in_model_order_and_corrupt_run_does_not_break_others(server):
    base, _ = server
    tags = helpers.get_json(base, P + "/tags")
    assert list(tags["runs"]["cnn"]) == ["conv1", "pool1", "conv2", "gap", "logits"]
    assert tags["runs"]["cnn"]["conv1"] == {"shape": [4, 14, 14, 8], "layout": "spatial", "units": 8, "probes": 4,
                                            "top_examples": True, "weights": False, "last_step": 8}
    assert tags["runs"]["odd"]["wide"]["top_examples"] is False
    assert tags["runs"]["odd"]["wide"]["layout"] == "dense" and tags["runs"]["odd"]["wide"]["units"] == 512
    assert tags["runs"]["odd"]["sequence"]["shape"] == [2, 1, 7, 6]
    assert XSS_LAYER in tags["runs"]["odd"]
    assert "broken" not in tags["runs"]
    assert tags["probe_inputs"]["cnn"]["count"] == 4
    assert tags["probe_inputs"]["cnn"]["wall_time"] > 1e9  # when the served probes were written
    assert tags["weight_dynamics"] == []


def test_maps_and_atlas_decode_to_the_layer_output(server):
    base, data = server
    model, probes = data["model"], data["probes"]
    steps = helpers.get_json(base, P + "/steps", run="cnn", layer="conv2")
    assert [s["step"] for s in steps["steps"]] == [0, 4, 8]
    assert steps["sample_limit"] >= 3 and "--samples_per_plugin=nnvis_activations=" in steps["hint"]
    reference = keras.Model(model.inputs, model.get_layer("conv2").output)(probes).numpy()
    for probe in (0, 3):
        meta = helpers.get_json(base, P + "/maps", run="cnn", layer="conv2", step=8, probe=probe)
        assert meta["grid"]["tile_h"] == 5 and meta["stats"]["fields"][4] == "frac_active"
        status, kind, png = helpers.get(base, P + "/atlas", run="cnn", layer="conv2", step=8, probe=probe)
        assert status == 200 and kind == "image/png"
        ranges = np.array(meta["range"], np.float32)
        values = images.dequantize_atlas(encoding.atlas_pixels(png), ranges, 5, 5, 16)[0]
        step = (ranges[:, 1] - ranges[:, 0]) / 255
        assert np.all(np.abs(values - reference[probe]) <= step + 1e-6)


def test_stats_unit_and_probe_routes(server):
    base, _ = server
    stats = helpers.get_json(base, P + "/stats", run="cnn", layer="conv1")
    assert stats["steps"] == [0, 4, 8] and np.array(stats["values"]).shape == (3, 8, 6)
    unit = helpers.get_json(base, P + "/unit", run="cnn", layer="conv1", probe=1, unit=7)
    assert unit["steps"] == [0, 4, 8] and len(unit["range"]) == 3
    status, kind, png = helpers.get(base, P + "/probe", run="cnn", index=2)
    assert status == 200 and kind == "image/png" and images.decode_png(png).shape == (16, 16, 3)


def test_top_examples_match_an_independent_search(server):
    base, data = server
    model, x = data["model"], data["examples"]
    conv2 = keras.Model(model.inputs, model.get_layer("conv2").output)(x).numpy()  # [64, 5, 5, 16]
    per_example = conv2.reshape(64, 25, 16)
    for unit in (0, 9, 15):
        got = helpers.get_json(base, P + "/top", run="cnn", layer="conv2", unit=unit)
        assert got["step"] == 8 and got["map_shape"] == [5, 5] and got["images"] is True
        responses = per_example[:, :, unit].max(axis=1)
        expected = np.argsort(-responses, kind="stable")[:4]
        assert [e["index"] for e in got["examples"]] == expected.tolist()
        for e in got["examples"]:
            np.testing.assert_allclose(e["value"], responses[e["index"]], rtol=1e-5, atol=1e-6)
            assert per_example[e["index"], e["y"] * 5 + e["x"], unit] == responses[e["index"]]
    earlier = helpers.get_json(base, P + "/top", run="cnn", layer="conv2", unit=0, step=3)
    assert earlier["step"] == 0 and earlier["steps"] == [0, 4, 8]
    png = helpers.get(base, P + "/example", run="cnn", index=63)[2]
    assert np.array_equal(images.decode_png(png), images.to_display_image(x[63]))


def test_nonfinite_values_come_back_as_such(server):
    base, _ = server
    meta = helpers.get_json(base, P + "/maps", run="odd", layer="nonfinite", step=0, probe=0)
    assert meta["nonfinite"] == [0, 3, 16]
    stats = np.array(meta["stats"]["values"], dtype=object)
    assert stats[2][0] == "NaN" and stats[2][5] == 32  # the all-NaN unit: NaN mean, 32 non-finite values
    png = helpers.get(base, P + "/atlas", run="odd", layer="nonfinite", step=0, probe=0)[2]
    pixels = encoding.atlas_pixels(png)
    values = images.dequantize_atlas(pixels, np.array([[v if v != "NaN" else 0 for v in r] for r in meta["range"]],
                                                      np.float32), 4, 4, 3)[0]
    assert np.isnan(values[0, 0, 1]) and values[0, 1, 1] == np.inf and values[1, 0, 1] == -np.inf


@pytest.mark.parametrize("path, params, status, message", [
    ("/maps", dict(run="nope", layer="conv1", step=0, probe=0), 404, "no activation data for run 'nope'"),
    ("/maps", dict(run="cnn", layer="nope", step=0, probe=0), 404, "no layer 'nope'"),
    ("/maps", dict(run="cnn", layer="conv1", step=999, probe=0), 404, "step 999"),
    ("/maps", dict(run="cnn", layer="conv1", step="x", probe=0), 400, "must be an integer"),
    ("/maps", dict(run="cnn", layer="conv1", step=0, probe=4), 404, "probe 4 is out of range"),
    ("/maps", dict(run="cnn", layer="conv1", probe=0), 400, "missing query parameter 'step'"),
    ("/atlas", dict(run="cnn", layer="conv1", step=0, probe=-1), 404, "probe -1"),
    ("/unit", dict(run="cnn", layer="conv1", probe=0, unit=8), 404, "unit 8 is out of range"),
    ("/stats", dict(run="cnn", layer="nope"), 404, "no layer 'nope'"),
    ("/steps", dict(run="broken", layer="x"), 404, "run 'broken'"),
    ("/probe", dict(run="odd", index=0), 404, "no image probe inputs"),
    ("/probe", dict(run="cnn", index=9), 404, "index 9"),
    ("/top", dict(run="cnn", layer="conv2", unit=16), 404, "unit 16 is out of range"),
    ("/top", dict(run="odd", layer="wide", unit=0), 404, "no activation data for run 'odd'"),
    ("/example", dict(run="cnn", index=64), 404, "index 64"),
    ("/example", dict(run="odd", index=0), 404, "no image dataset examples"),
    ("/static/../../setup.py", {}, 404, "no static file"),
    ("/maps", dict(run="malformed", layer="garbage_header", step=0, probe=0), 400, "malformed activation data"),
    ("/atlas", dict(run="malformed", layer="short_ranges", step=0, probe=0), 400, "no PNG after the float32 ranges of 4 units"),
    ("/static/shared/nope.js", {}, 404, "no static file"),
])
def test_bad_requests_get_4xx_with_a_message(server, path, params, status, message):
    base, _ = server
    got, kind, body = helpers.get(base, P + path, **params)
    assert got == status and kind.startswith("application/json")
    assert message in json.loads(body)["error"]


def test_wide_layer_answers(server):
    base, _ = server
    meta = helpers.get_json(base, P + "/maps", run="odd", layer="wide", step=20, probe=1)
    assert meta["grid"]["rows"] * meta["grid"]["cols"] >= 512 and len(meta["range"]) == 512

"""The filmstrip in one request (``/unit_strip``) and the latest step in ``/tags``, against a real
``tensorboard`` on both loaders: every tile of the strip is the unit's tile of ``/atlas`` at that step."""
import base64
import json

import numpy as np
import pytest

from tb_nnvis.core import images
from tb_nnvis.plugins.activations import encoding, plugin
from tests import helpers

P = "/data/plugin/nnvis_activations"


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, activations_logdir):
    with helpers.tensorboard(activations_logdir["logdir"], request.param) as base:
        yield base


def atlas_tile(base, run, layer, step, probe, unit):
    meta = helpers.get_json(base, P + "/maps", run=run, layer=layer, step=step, probe=probe)
    status, _, png = helpers.get(base, P + "/atlas", run=run, layer=layer, step=step, probe=probe)
    assert status == 200
    g = meta["grid"]
    y, x = (unit // g["cols"]) * g["tile_h"], (unit % g["cols"]) * g["tile_w"]
    return encoding.atlas_pixels(png)[y:y + g["tile_h"], x:x + g["tile_w"]], meta["range"][unit]


@pytest.mark.parametrize("run, layer, probe, unit", [("cnn", "conv1", 1, 7), ("cnn", "conv2", 3, 0),
                                                     ("odd", "sequence", 1, 5), ("odd", "wide", 0, 511),
                                                     ("odd", "nonfinite", 0, 1)])
def test_unit_strip_holds_the_atlas_tile_of_every_step(server, run, layer, probe, unit):
    unit_info = helpers.get_json(server, P + "/unit", run=run, layer=layer, probe=probe, unit=unit)
    status, kind, png = helpers.get(server, P + "/unit_strip", run=run, layer=layer, probe=probe, unit=unit)
    assert status == 200 and kind == "image/png"
    strip = images.decode_png(png)
    g, cols, steps = unit_info["grid"], unit_info["strip"]["cols"], unit_info["steps"]
    th, tw = g["tile_h"], g["tile_w"]
    assert len(steps) == 3 and cols == 3
    assert strip.shape[:2] == (th * -(-len(steps) // cols), tw * cols)
    for i, step in enumerate(steps):
        expected, expected_range = atlas_tile(server, run, layer, step, probe, unit)
        r, c = divmod(i, cols)
        np.testing.assert_array_equal(strip[r * th:(r + 1) * th, c * tw:(c + 1) * tw], expected)
        assert unit_info["range"][i] == expected_range or np.isnan(expected_range).any()


def test_tags_give_each_layers_latest_step(server):
    tags = helpers.get_json(server, P + "/tags")
    assert tags["runs"]["cnn"]["conv1"]["last_step"] == 8
    assert tags["runs"]["odd"]["wide"]["last_step"] == 20


@pytest.mark.parametrize("params, status, message", [
    ({"run": "cnn", "layer": "conv1", "probe": 0, "unit": 8}, 404, "unit 8 is out of range [0, 7]"),
    ({"run": "cnn", "layer": "conv1", "probe": 4, "unit": 0}, 404, "probe 4 is out of range"),
    ({"run": "cnn", "layer": "nope", "probe": 0, "unit": 0}, 404, "no layer 'nope'"),
    ({"run": "cnn", "layer": "conv1", "probe": 0}, 400, "missing query parameter 'unit'"),
    ({"run": "malformed", "layer": "garbage_header", "probe": 0, "unit": 0}, 400, "malformed activation data"),
])
def test_unit_strip_bad_requests(server, params, status, message):
    got, kind, body = helpers.get(server, P + "/unit_strip", **params)
    assert got == status and kind.startswith("application/json")
    assert message in json.loads(body)["error"]


def test_long_strips_wrap_into_rows():
    assert plugin._strip_cols(500, 4) == 500
    assert plugin._strip_cols(500, 48) == 4096 // 48
    assert plugin._strip_cols(2, 9000) == 1


def test_packed_stats_are_the_json_stats(server):
    plain = helpers.get_json(server, P + "/stats", run="cnn", layer="conv2")
    packed = helpers.get_json(server, P + "/stats", run="cnn", layer="conv2", encoding="f32")
    assert packed["steps"] == plain["steps"] == [0, 4, 8] and packed["fields"] == plain["fields"]
    values = np.frombuffer(base64.b64decode(packed["f32"]), "<f4").reshape(packed["shape"])
    assert values.shape == (3, 16, 6)
    np.testing.assert_array_equal(values, np.array(plain["values"], np.float32))

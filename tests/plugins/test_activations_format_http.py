"""The maps format (2: one frame per probe, grey atlases without NaN/Inf, statistics only as a tensor) and the
format before it (1) serve the same values, against a real ``tensorboard`` on both loaders, and both equal
a numpy replica of the quantisation. Format 1 steps are written here by a copy of the old writer."""
import json

import numpy as np
import pytest
from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from tb_nnvis.core import images
from tb_nnvis.plugins.activations import encoding, metadata, summary
from tests import helpers

P = "/data/plugin/nnvis_activations"
STEPS = (0, 3, 6)
LAYERS = {"conv": (3, 5, 6, 7), "wide": (2, 512)}  # probes, ..., units


def layer_data(layer, step):
    """Maps of one layer at one step; probe 1 of ``conv`` holds NaN and -Inf at step 3 (an RGB frame)."""
    x = np.random.default_rng(step * 10 + len(layer)).standard_normal(LAYERS[layer]).astype(np.float32) * (step + 1)
    if layer == "conv" and step == 3:
        x[1, 0, 0, 2], x[1, 2, 3, 4] = np.nan, -np.inf
    return x


def format1_pb(name, data):
    """A ``Summary`` as tb_nnvis wrote it before format 2: ``[header, ranges, stats, RGB PNG per probe]``
    and the statistics tensor, with plugin content of version 1."""
    maps, layout = encoding.canonicalize(data)
    atlas = images.quantize_atlas(maps)
    p, h, w, c = maps.shape
    header = {"version": 1, "shape": [p, h, w, c], "layout": layout, "original_shape": list(np.shape(data)),
              "grid": {"rows": atlas.grid[0], "cols": atlas.grid[1], "tile_h": h, "tile_w": w}}
    ranges = np.concatenate([atlas.ranges, atlas.nonfinite[..., None].astype(np.float32)], axis=-1)
    stats = encoding.unit_statistics(maps)
    blobs = [json.dumps(header).encode(), ranges.astype("<f4").tobytes(), stats.astype("<f4").tobytes()]
    blobs += [images.encode_png(atlas.pixels[i], 1) for i in range(p)]
    out = summary_pb2.Summary()
    for tag, kind, value in [(name, metadata.MAPS, np.array(blobs, dtype=object)),
                             (name + metadata.STATS_SUFFIX, metadata.UNIT_STATS, stats)]:
        md = metadata.create_summary_metadata(kind, name, layout=layout, shape=np.shape(data))
        md.plugin_data.content = json.dumps(dict(json.loads(md.plugin_data.content), version=1)).encode()
        out.value.add(tag=tag, metadata=md, tensor=tensor_util.make_tensor_proto(value))
    return out


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """Runs ``new`` (format 2), ``old`` (format 1) and ``resumed`` (format 1, then format 2 from step 3 on:
    a run continued with a newer tb_nnvis), all of the same data."""
    root = tmp_path_factory.mktemp("formats")
    writers = {"new": lambda s: summary.activations_pb, "old": lambda s: format1_pb,
               "resumed": lambda s: format1_pb if s == 0 else summary.activations_pb}
    for run, writer in writers.items():
        helpers.write_pb(root / run, {s: [writer(s)(layer, layer_data(layer, s)) for layer in LAYERS] for s in STEPS})
    return root


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, logdir):
    with helpers.tensorboard(logdir, request.param) as base:
        yield base


def served_values(base, run, layer, step, probe):
    """The maps ``[H, W, C]`` of one probe as the dashboard decodes them, the /maps answer and the pixels."""
    meta = helpers.get_json(base, P + "/maps", run=run, layer=layer, step=step, probe=probe)
    status, kind, png = helpers.get(base, P + "/atlas", run=run, layer=layer, step=step, probe=probe)
    assert status == 200 and kind == "image/png"
    _, h, w, c = meta["shape"]
    ranges = np.array([[0.0 if v in ("NaN", "Infinity", "-Infinity") else v for v in r] for r in meta["range"]],
                      np.float32)
    pixels = encoding.atlas_pixels(png)
    return images.dequantize_atlas(pixels, ranges, h, w, c)[0], meta, pixels, png


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("step", STEPS)
def test_both_formats_serve_the_same_values(server, layer, step):
    for probe in range(LAYERS[layer][0]):
        truth, _ = encoding.canonicalize(layer_data(layer, step))
        truth = truth[probe].astype(np.float64)
        served = {run: served_values(server, run, layer, step, probe) for run in ("new", "old", "resumed")}
        finite = np.isfinite(truth)
        kept = np.where(finite, truth, np.nan)
        lo, hi = np.nanmin(kept, axis=(0, 1)), np.nanmax(kept, axis=(0, 1))
        half_step = np.broadcast_to((hi - lo) / 510 + 1e-6, truth.shape)
        for run, (values, meta, pixels, png) in served.items():
            np.testing.assert_allclose(np.array(meta["range"], np.float64), np.stack([lo, hi], -1), rtol=1e-6)
            assert np.all(np.abs(values[finite] - truth[finite]) <= half_step[finite])
            assert np.array_equal(np.isnan(values), np.isnan(truth)) and np.array_equal(np.isinf(values), np.isinf(truth))
            stats = np.array(meta["stats"]["values"], dtype=object)
            assert stats.shape == (truth.shape[2], 6)
            assert stats[:, 5].tolist() == (~np.isfinite(encoding.canonicalize(layer_data(layer, step))[0])).sum(
                axis=(0, 1, 2)).tolist()  # non-finite counts over all probes
            written_by_format2 = run == "new" or (run == "resumed" and step > 0)
            grey = written_by_format2 and bool(np.isfinite(truth).all())
            assert meta["channels"] == (1 if grey else 3)
            assert png[25] == (0 if grey else 2)  # the PNG's colour type: grey or RGB
        # Pixel for pixel the same, whatever the format.
        assert np.array_equal(served["new"][2], served["old"][2]) and np.array_equal(served["new"][2], served["resumed"][2])
        assert served["new"][1] == served["old"][1] | {"channels": served["new"][1]["channels"]}


@pytest.mark.parametrize("run", ["new", "old", "resumed"])
def test_unit_strip_and_ranges_in_every_format(server, run):
    unit = helpers.get_json(server, P + "/unit", run=run, layer="conv", probe=1, unit=2)
    assert unit["steps"] == list(STEPS) and unit["nonfinite"] == [0, 1, 0]
    strip = encoding.atlas_pixels(helpers.get(server, P + "/unit_strip", run=run, layer="conv", probe=1, unit=2)[2])
    g = unit["grid"]
    for i, step in enumerate(STEPS):
        pixels = served_values(server, run, "conv", step, 1)[2]
        y, x = (2 // g["cols"]) * g["tile_h"], (2 % g["cols"]) * g["tile_w"]
        expected = pixels[y:y + g["tile_h"], x:x + g["tile_w"]]
        np.testing.assert_array_equal(strip[:, i * g["tile_w"]:(i + 1) * g["tile_w"]], expected)
    assert strip[0, g["tile_w"], 1] == images.NAN  # probe 1's unit 2 has a NaN at (0, 0) at step 3 only
    assert (strip[..., 1] == images.NAN).sum() == 1


def test_a_format2_step_is_smaller_and_decodes_like_format1():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:8, 0:8]
    smooth = np.maximum(np.sin(rng.uniform(0.2, 1, 64) * (x[..., None] + 0.5 * y[..., None]) + rng.uniform(0, 6, 64)), 0)
    data = np.stack([smooth * (i + 1) for i in range(4)]).astype(np.float32)  # [4, 8, 8, 64], like trained maps
    new = encoding.encode_activations(data).blobs
    old = [bytes(b) for b in tensor_util.make_ndarray(format1_pb("x", data).value[0].tensor)]
    assert len(new) == 4 and len(old) == 7 and all(encoding.is_frame(b) for b in new)
    assert sum(map(len, new)) < 0.8 * sum(map(len, old)), (sum(map(len, new)), sum(map(len, old)))
    for a, b in zip(encoding.decode_step(new), encoding.decode_step(old)):
        if isinstance(a, dict):
            assert {k: a[k] for k in ("shape", "layout", "grid")} == {k: b[k] for k in ("shape", "layout", "grid")}
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("where, message", [("magic", "not a frame"), ("header", "cut short"),
                                            ("ranges", "cut short"), ("png", "no PNG")])
def test_broken_frames_are_named(where, message):
    frame = encoding.encode_activations(np.ones((1, 3, 3, 4))).blobs[0]
    png_at = len(frame) - len(encoding.decode_frame(frame).png)
    broken = {"magic": frame[:3], "header": frame[:20], "ranges": frame[:png_at - 5],
              "png": frame[:png_at] + b"\x00" * 9}[where]
    with pytest.raises(ValueError, match=message):
        encoding.decode_frame(broken)

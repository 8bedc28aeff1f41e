"""Parameters beside activity in the Activations tab: summaries and routes for weights and their dynamics.

Writers (a numpy ``*_pb`` twin for each, as for the maps):

- :func:`weights`: each unit's incoming weights (the filter beside its feature map) and their norms;
- :func:`update_ratio`: a layer's ``||W_after - W_before|| / ||W_before||`` across one optimizer step;
- :func:`receptive_field_pb`: a layer's receptive fields, so top examples are shown as crops.

Routes (mounted by :class:`tb_nnvis.plugins.activations.plugin.ActivationsPlugin`):

- ``/weights?run&layer&unit[&step][&channels]``: one unit's kernel, ready to draw: ``mode`` ``"rgb"``
  (a first-layer colour filter ``[kh][kw][3]``), ``"channels"`` (per input channel ``[rows][cols]``,
  strongest first, at most ``channels`` of them) or ``"vector"`` (a Dense unit's inputs).
- ``/weight_dynamics?run``: per layer, unit weight norms and update ratios at every loaded step, and
  which layers are out of the usual range of update ratios.
"""
import json

import numpy as np

from tb_nnvis.core import weights as core
from tb_nnvis.plugins import _reader, _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.activations import metadata

_JSON = "application/json"
# Update-to-weight ratios are usually near 1e-3; a decade either side is where we start to flag a layer.
RATIO_TARGET, RATIO_BAND = 1e-3, (1e-4, 1e-2)
MAX_CHANNELS = 16


# ---- writing ----------------------------------------------------------------------------------------

def weights_pb(name, kernels, layer_class=""):
    """A ``Summary`` of each unit's incoming weights ``[units, ...]`` and their norms (numpy only).

    >>> import numpy as np
    >>> pb = weights_pb("conv1", np.random.rand(8, 3, 3, 3), "Conv2D")
    >>> [v.tag for v in pb.value]
    ['conv1/_weights', 'conv1/_weight_norms']
    """
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    kernels = np.ascontiguousarray(kernels, dtype="<f4")
    if kernels.ndim < 2 or len(kernels) == 0:
        raise ValueError(f"weights of {name!r} must be [units, ...] with at least one unit, got {kernels.shape}")
    header = json.dumps({"version": metadata.VERSION, "shape": list(kernels.shape), "layer_class": layer_class})
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name + metadata.WEIGHTS_SUFFIX,
        metadata=metadata.create_summary_metadata(metadata.WEIGHTS, name, shape=kernels.shape),
        tensor=tensor_util.make_tensor_proto(np.array([header.encode("utf-8"), kernels.tobytes()], dtype=object)))
    summary.value.add(
        tag=name + metadata.NORMS_SUFFIX,
        metadata=metadata.create_summary_metadata(metadata.WEIGHT_NORMS, name, shape=[len(kernels)]),
        tensor=tensor_util.make_tensor_proto(core.unit_norms(kernels)))
    return summary


def update_ratio_pb(name, ratio):
    """A ``Summary`` of one layer's update-to-weight ratio (numpy only); see :func:`update_ratio`."""
    return _tensor_pb(name, metadata.UPDATE_RATIO, metadata.RATIO_SUFFIX, np.float32(ratio))


def receptive_field_pb(name, field):
    """A ``Summary`` of a layer's receptive fields (a :class:`tb_nnvis.core.receptive_field.Field`)."""
    return _tensor_pb(name, metadata.RECEPTIVE_FIELD, metadata.FIELD_SUFFIX,
                      np.array(json.dumps(field.to_json()).encode("utf-8"), dtype=object))


def _tensor_pb(name, kind, suffix, value):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    summary = summary_pb2.Summary()
    summary.value.add(tag=name + suffix, metadata=metadata.create_summary_metadata(kind, name),
                      tensor=tensor_util.make_tensor_proto(value))
    return summary


def weights(name, layer, step=None):
    """Write the incoming weights of each unit of a Keras ``layer`` (Dense, Conv1D/2D/3D, DepthwiseConv2D).

    Like ``tf.summary.*``: inside ``with writer.as_default():``; returns False when nothing was recorded.

    >>> import keras, tensorflow as tf, tempfile
    >>> layer = keras.layers.Dense(3)
    >>> layer.build((None, 4))
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = weights("dense", layer, step=0)
    >>> bool(ok)
    True
    """
    return _write(weights_pb(name, core.unit_kernels(layer), type(layer).__name__), step)


def update_ratio(name, before, after, step=None):
    """Write a layer's update ratio ``||after - before|| / ||before||`` from two lists of its weights
    (e.g. ``layer.get_weights()`` before and after an optimizer step)."""
    return _write(update_ratio_pb(name, core.update_ratio(before, after)), step)


def _write(summary, step):
    """Write every value of a ``Summary`` proto with the default ``tf.summary`` writer."""
    import tensorflow as tf
    from tensorboard.util import tensor_util

    if not tf.summary.should_record_summaries():
        return False
    ok = True
    for value in summary.value:
        array = tensor_util.make_ndarray(value.tensor)
        ok = tf.summary.write(value.tag, tf.constant(array), step=step, metadata=value.metadata) and ok
    return ok


# ---- routes ------------------------------------------------------------------------------------------

@route
def serve_weights(plugin, request):
    params, run, tag, _ = plugin._layer_series(request, metadata.WEIGHTS)
    datums = plugin._read_blobs(request, run, tag)
    if not datums:
        raise not_found(f"no weights loaded for layer {params.str('layer')!r} in run {run!r}")
    datum = _reader.at_or_before(datums, params.int("step", default=datums[-1].step))
    kernels = _decode(plugin, request, datum)
    unit = params.int("unit", 0, len(kernels) - 1)
    view = unit_view(kernels[unit], params.int("channels", 1, 4096, default=MAX_CHANNELS))
    view.update(step=datum.step, steps=[d.step for d in datums], unit=unit, units=len(kernels))
    return view, _JSON


def unit_view(kernel, max_channels=MAX_CHANNELS):
    """How to draw one unit's kernel: a colour filter, its strongest input channels, or a vector.

    >>> unit_view(np.ones((3, 3, 3)))["mode"], unit_view(np.ones((3, 3, 8)), 2)["channels"][0]["channel"]
    ('rgb', 0)
    >>> unit_view(np.arange(4.0))["values"].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    bound = float(np.max(np.abs(kernel[np.isfinite(kernel)]), initial=0.0))
    if kernel.ndim == 1:
        return {"mode": "vector", "values": kernel, "range": [-bound, bound], "shape": list(kernel.shape)}
    if kernel.ndim == 3 and kernel.shape[-1] == 3:  # a first-layer filter over RGB: one colour image
        return {"mode": "rgb", "values": kernel, "range": [-bound, bound], "shape": list(kernel.shape)}
    order, norms = core.channels_by_strength(kernel, limit=max_channels)
    planes = kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1]) if kernel.ndim > 2 else kernel[None]
    return {"mode": "channels", "range": [-bound, bound], "shape": list(kernel.shape),
            "count": int(kernel.shape[-1]),
            "channels": [{"channel": int(c), "norm": float(n), "values": planes[..., c]} for c, n in zip(order, norms)]}


@route
def serve_weight_dynamics(plugin, request):
    run = Params(request).str("run")
    norms = plugin._series(request, metadata.WEIGHT_NORMS, run).get(run, {})
    ratios = plugin._series(request, metadata.UPDATE_RATIO, run).get(run, {})
    if not norms and not ratios:
        raise not_found(f"run {run!r} has no weight dynamics; log them with "
                        "ActivationsCallback(..., weights=True) or tb_nnvis.summary.weights")
    layers = {}
    for layer in list(dict.fromkeys(list(norms) + list(ratios))):
        entry = {"steps": [], "norms": [], "ratio_steps": [], "ratios": [], "flagged": False}
        if layer in norms:
            datums = plugin._read_tensors(request, run, norms[layer][0])
            entry["steps"] = [d.step for d in datums]
            entry["norms"] = [np.asarray(d.numpy, dtype=np.float32).reshape(-1) for d in datums]
        if layer in ratios:
            datums = plugin._read_tensors(request, run, ratios[layer][0])
            entry["ratio_steps"] = [d.step for d in datums]
            entry["ratios"] = [float(np.asarray(d.numpy).reshape(-1)[0]) for d in datums]
            entry["flagged"] = out_of_range(entry["ratios"])
        layers[layer] = entry
    return {"layers": layers, "target": RATIO_TARGET, "band": list(RATIO_BAND)}, _JSON


def out_of_range(ratios, band=RATIO_BAND):
    """Whether the latest finite update ratio is outside ``band`` (a learning rate too high or too low).

    >>> out_of_range([1e-3, 5e-2]), out_of_range([2e-3, float("nan")]), out_of_range([])
    (True, False, False)
    """
    finite = [r for r in ratios if np.isfinite(r)]
    return bool(finite) and not band[0] <= finite[-1] <= band[1]


def receptive_field(plugin, request, run, layer):
    """The layer's receptive fields as written (``Field.to_json()``), or None when none were written."""
    series = plugin._series(request, metadata.RECEPTIVE_FIELD, run).get(run, {})
    if layer not in series:
        return None
    datums = plugin._read_tensors(request, run, series[layer][0])
    if not datums:
        return None
    try:
        raw = np.asarray(datums[-1].numpy).reshape(-1)[0]
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        _server.logger.warning("skipping receptive field of %s/%s: %s", run, layer, e)
        return None


def crop(field, y, x):
    """``[[top, bottom], [left, right]]`` (stop exclusive) of the input a unit at map position (y, x)
    sees, from a ``Field.to_json()``; None where it sees only padding or the field is unknown.

    >>> crop({"input_shape": [8, 8], "start": [[0, 2], [0, 1]], "stop": [[3, 5], [2, 4]]}, 1, 0)
    [[2, 5], [0, 2]]
    """
    if not field:
        return None
    if field.get("start") is None:
        return [[0, n] for n in field["input_shape"]][:2]
    starts, stops = field["start"], field["stop"]
    index = (y, x) if len(starts) == 2 else (x,)
    try:
        box = [[int(starts[a][i]), int(stops[a][i])] for a, i in enumerate(index)]
    except (IndexError, TypeError, ValueError):
        return None
    return None if any(b <= a for a, b in box) else box


def _decode(plugin, request, datum):
    """The ``[units, ...]`` float32 kernels of one step, cached."""
    values = datum.values
    if len(values) != 2:
        raise bad_request(f"malformed weights at step {datum.step}: {len(values)} blobs")

    def load():
        try:
            header = json.loads(bytes(plugin._blob(request, values[0])).decode("utf-8"))
            shape = [int(s) for s in header["shape"]]
            data = bytes(plugin._blob(request, values[1]))
            if len(data) != 4 * int(np.prod(shape)):
                raise ValueError(f"{len(data)} bytes for float32 {shape}")
            return np.frombuffer(data, dtype="<f4").reshape(shape)
        except (ValueError, KeyError, TypeError) as e:
            raise bad_request(f"malformed weights at step {datum.step}: {e}") from None

    return _kernel_cache(plugin).get(values[1].blob_key, load)


def _kernel_cache(plugin):
    """Decoded kernels by blob key, kept on the plugin (64 MB of them)."""
    cache = getattr(plugin, "_kernel_cache", None)
    if cache is None:
        cache = plugin._kernel_cache = _server.LRUCache(size=64 << 20, weigh=lambda kernels: kernels.nbytes)
    return cache

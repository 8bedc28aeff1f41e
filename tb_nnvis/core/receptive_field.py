"""Receptive fields: which input pixels a unit at a given position of a layer can see.

A unit's field is a box: per spatial axis, a range ``[start, stop)`` of input indices. The ranges are
computed per axis for every index of a layer's map, walking the model forward from its input: a
convolution or pooling (kernel ``k``, stride ``s``, dilation ``d``, ``p`` cells padded before) gives
output index ``o`` the union of the ranges of input indices ``o * s - p`` to ``o * s - p + d * (k - 1)``
that exist (padding sees nothing, so a field ends where the data ends, at every layer; dilated kernels
are taken as the box around the cells they read); pointwise
layers keep the ranges; merges (``Add``, ``Concatenate``, ...) take their union, which for the branches
of residual and Inception-style blocks is again one range. Layers that mix every position (global
pooling, ``Flatten``, ``Dense`` on a flat vector) see the whole input.

Example:

>>> import keras
>>> model = keras.Sequential([keras.Input((32, 32, 3)),
...                           keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1"),
...                           keras.layers.MaxPooling2D(2, name="pool"),
...                           keras.layers.Conv2D(8, 3, dilation_rate=2, name="c2")])
>>> field = receptive_field(model, "c2")
>>> field.region((1, 2))                  # (start, stop) per axis of the 32 x 32 input
((4, 25), (8, 29))
>>> field.size
(21, 21)
"""
from typing import NamedTuple, Optional

import keras
import numpy as np

from tb_nnvis.core import taps

_EMPTY_START, _EMPTY_STOP = np.iinfo(np.int64).max, np.iinfo(np.int64).min  # a padded cell sees nothing


class ReceptiveFieldError(ValueError):
    """A layer whose receptive field we cannot tell; the message names it and says what to do."""


class Field(NamedTuple):
    """The receptive fields of a layer's units.

    ``input_shape``: the spatial shape of the model's input. ``start``, ``stop``: per spatial axis of
    the layer's map, int arrays giving for each index the input range it sees; both None when every unit
    sees the whole input (``whole``).
    """

    input_shape: tuple
    start: Optional[tuple]
    stop: Optional[tuple]

    @property
    def whole(self):
        return self.start is None

    @property
    def size(self):
        """The largest extent per axis (the nominal field size, away from the borders)."""
        if self.whole:
            return tuple(self.input_shape)
        return tuple(int(np.max(b - a, initial=0)) for a, b in zip(self.start, self.stop))

    def region(self, position=None):
        """``((start, stop), ...)`` per input axis of the unit at ``position`` (an index per map axis), or
        None for a unit that sees only padding."""
        if self.whole:
            return tuple((0, n) for n in self.input_shape)
        position = tuple(position or ())
        if len(position) != len(self.start):
            raise ValueError(f"position {position} needs {len(self.start)} indices")
        region = tuple((int(a[i]), int(b[i])) for i, a, b in zip(position, self.start, self.stop))
        return None if any(b <= a for a, b in region) else region

    def to_json(self):
        return {"input_shape": [int(n) for n in self.input_shape],
                "start": None if self.whole else [a.tolist() for a in self.start],
                "stop": None if self.whole else [b.tolist() for b in self.stop]}


# Layers that act on each position alone (or only along the channel axis).
POINTWISE = (
    keras.layers.InputLayer, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.BatchNormalization, keras.layers.Dropout,
    keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
    keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Dense, keras.layers.Identity,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate,
)
_CHANNEL_AXIS = (keras.layers.LayerNormalization, keras.layers.Softmax, keras.layers.UnitNormalization)
_WINDOWED = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
             keras.layers.SeparableConv2D, keras.layers.SeparableConv1D, keras.layers.MaxPooling1D,
             keras.layers.MaxPooling2D, keras.layers.MaxPooling3D, keras.layers.AveragePooling1D,
             keras.layers.AveragePooling2D, keras.layers.AveragePooling3D)
_SHIFTS = (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D,
           keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Cropping3D)
_GLOBAL = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.GlobalAveragePooling1D,
           keras.layers.GlobalMaxPooling1D, keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D,
           keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling3D)
_TRANSPOSED = tuple(getattr(keras.layers, n) for n in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                                                         "UpSampling1D", "UpSampling2D", "UpSampling3D"))


def receptive_field(model, layer, pointwise=()):
    """The :class:`Field` of the units of ``layer`` (a name, path or layer, as in :mod:`tb_nnvis.core.taps`).

    ``pointwise``: extra layer classes to treat as acting on each position alone (your own layers).
    Raises :class:`ReceptiveFieldError` naming a layer whose field is unknown (transposed convolutions,
    upsampling, channels-first data, layers not known to be pointwise).
    """
    paths = taps.resolve(model, [layer])
    return receptive_fields(model, paths[:1], pointwise)[paths[0]]


def receptive_fields(model, layers=None, pointwise=()):
    """``{path: Field}`` for the layers named by ``layers`` (None: every tap), in one walk of the model."""
    paths = taps.resolve(model, layers)
    graph = taps._graph(model)
    if len(graph.inputs) != 1:
        raise ReceptiveFieldError(f"model {model.name!r} has {len(graph.inputs)} inputs; receptive fields "
                                  "are computed for models with one input")
    spatial = tuple(graph.inputs[0].shape[1:-1])
    if any(n is None for n in spatial):
        raise ReceptiveFieldError(f"model {model.name!r} takes inputs of unknown size {spatial}; receptive "
                                  "fields need a fixed input shape (e.g. keras.Input((224, 224, 3)))")
    start = tuple(np.arange(n, dtype=np.int64) for n in spatial)
    found = {}
    _walk(graph, "", {id(graph.inputs[0]): (start, tuple(a + 1 for a in start))}, set(paths), found,
          tuple(pointwise))
    for path in paths:
        if isinstance(found[path], ReceptiveFieldError):
            raise found[path]
    return {p: Field(spatial, *found[p]) if found[p] is not None else Field(spatial, None, None) for p in paths}


def _walk(graph, prefix, fields, wanted, found, pointwise):
    """Propagate fields ``(starts, stops)`` (None: whole input; an error: unknown) through ``graph``'s nodes."""
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if layer is None or node.is_input or any(id(t) not in fields for t in node.input_tensors):
                continue
            ins = [fields[id(t)] for t in node.input_tensors]
            k = layer._inbound_nodes.index(node) if node in layer._inbound_nodes else 0
            path = prefix + layer.name + (f":{k}" if k else "")
            if isinstance(layer, keras.Model):
                inner = taps._graph(layer)
                outs = _walk(inner, path + "/", {id(t): f for t, f in zip(inner.inputs, ins)}, wanted, found,
                             pointwise)
            else:
                # An unknown field is kept as its error, raised only for the layers that depend on it.
                failed = next((f for f in ins if isinstance(f, ReceptiveFieldError)), None)
                try:
                    field = failed or _layer_field(layer, node, _union(layer, ins), pointwise)
                except ReceptiveFieldError as e:
                    field = e
                outs = [field] * len(node.output_tensors)
                if path in wanted:
                    found[path] = field
            for t, f in zip(node.output_tensors, outs):
                fields[id(t)] = f
    return [fields[id(t)] for t in graph.outputs]


def _union(layer, fields):
    if any(f is None for f in fields):
        return None
    first = fields[0]
    if any([len(a) for a in f[0]] != [len(a) for a in first[0]] for f in fields[1:]):
        raise ReceptiveFieldError(f"layer {layer.name!r} merges maps of different spatial shapes")
    starts = tuple(np.min([f[0][a] for f in fields], axis=0) for a in range(len(first[0])))
    stops = tuple(np.max([f[1][a] for f in fields], axis=0) for a in range(len(first[0])))
    return starts, stops


def _layer_field(layer, node, field, pointwise):
    if field is None:
        return None
    in_rank, out_rank = len(node.input_tensors[0].shape), len(node.output_tensors[0].shape)
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise ReceptiveFieldError(f"layer {layer.name!r} uses channels_first data; receptive fields are "
                                  "computed for channels_last models")
    if isinstance(layer, _TRANSPOSED):
        raise ReceptiveFieldError(f"layer {layer.name!r} ({type(layer).__name__}) upsamples; receptive fields "
                                  "through transposed convolutions and upsampling are not supported")
    if isinstance(layer, _WINDOWED):
        return _window(layer, node, field)
    if isinstance(layer, _SHIFTS):
        return _shift(layer, node, field)
    if out_rank <= 2 or isinstance(layer, _GLOBAL):
        return None  # every output sees every position
    if (isinstance(layer, POINTWISE + pointwise) and in_rank == out_rank) or \
            (isinstance(layer, _CHANNEL_AXIS) and _channel_only(layer, in_rank)):
        return field
    raise ReceptiveFieldError(
        f"layer {layer.name!r} ({type(layer).__name__}) is not known to act on each position alone, so its "
        f"receptive field is unknown; if it is pointwise, pass pointwise=({type(layer).__name__},)")


def _channel_only(layer, rank):
    axes = getattr(layer, "axis", -1)
    axes = axes if isinstance(axes, (list, tuple)) else [axes]
    return all(a in (-1, rank - 1) for a in axes)


def _gather(starts, stops, taps_):
    """Per output index (row of ``taps_``), the hull of the input ranges of the indices it reads that exist."""
    n = len(starts)
    inside = (taps_ >= 0) & (taps_ < n)
    idx = np.clip(taps_, 0, max(n - 1, 0))
    start = np.where(inside, starts[idx], _EMPTY_START).min(axis=1)
    stop = np.where(inside, stops[idx], _EMPTY_STOP).max(axis=1)
    return start, stop


def _window(layer, node, field):
    starts, stops = field
    n = len(starts)
    kernel = _per_axis(getattr(layer, "kernel_size", None) or layer.pool_size, n)
    strides = _per_axis(layer.strides or kernel, n)
    dilation = _per_axis(getattr(layer, "dilation_rate", 1), n)
    padding = layer.padding.lower()
    out_shape = node.output_tensors[0].shape[1:-1]
    new_starts, new_stops = [], []
    for a in range(n):
        span = dilation[a] * (kernel[a] - 1) + 1
        if padding == "valid":
            before = 0
        elif padding == "causal":
            before = span - 1
        else:  # "same", padded as TensorFlow pads: the smaller half before
            before = max((out_shape[a] - 1) * strides[a] + span - len(starts[a]), 0) // 2
        first = np.arange(out_shape[a]) * strides[a] - before
        start, stop = _gather(starts[a], stops[a], first[:, None] + dilation[a] * np.arange(kernel[a]))
        new_starts.append(start)
        new_stops.append(stop)
    return tuple(new_starts), tuple(new_stops)


def _shift(layer, node, field):
    starts, stops = field
    pad = "Padding" in type(layer).__name__
    amounts = layer.padding if pad else layer.cropping
    amounts = (amounts,) if isinstance(amounts[0], int) else amounts
    out_shape = node.output_tensors[0].shape[1:-1]
    new = [_gather(starts[a], stops[a], (np.arange(out_shape[a]) + (-1 if pad else 1) * amounts[a][0])[:, None])
           for a in range(len(starts))]
    return tuple(s for s, _ in new), tuple(e for _, e in new)


def _per_axis(value, n):
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * n

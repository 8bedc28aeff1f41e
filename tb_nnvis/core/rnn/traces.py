"""Per-timestep hidden state, cell state and gates of the recurrent layers of any Keras 3 model.

:func:`traces` runs the model up to the inputs (and masks) of its ``LSTM``, ``GRU`` and ``SimpleRNN``
layers, then replays each layer's time loop from its own weights (read by :mod:`tb_nnvis.core.cells`),
keeping what Keras throws away: every gate at every step. All of it is one compiled function.

What comes back, per layer path (``"<path>/forward"`` and ``"<path>/backward"`` for a
``Bidirectional`` layer), each ``[batch, time, units]`` in the *input's* time order (a ``go_backwards``
layer's steps are put back in input order):

- LSTM: ``hidden``, ``cell``, ``input_gate``, ``forget_gate``, ``output_gate``, ``candidate``;
- GRU: ``hidden``, ``update_gate``, ``reset_gate``, ``candidate`` (``reset_after`` both ways);
- SimpleRNN: ``hidden``.

A masked step changes nothing, as in Keras: the state is carried over, and so are the gates (they show
the last step that was read). Dropout is off (inference). Each layer starts from zeros: states passed
with ``initial_state`` in the model are not followed (an error says so).
"""
import weakref

import keras
import tensorflow as tf

from tb_nnvis.core import cells, taps

__all__ = ["traces", "Tracer", "list_recurrent", "cell_traces", "TRACE_KINDS"]

TRACE_KINDS = {
    "lstm": ("hidden", "cell", "input_gate", "forget_gate", "output_gate", "candidate"),
    "gru": ("hidden", "update_gate", "reset_gate", "candidate"),
    "simple_rnn": ("hidden",),
}


def _directions(layer):
    """``[(suffix, rnn layer)]``: one for a plain recurrent layer, two for a ``Bidirectional``."""
    if isinstance(layer, keras.layers.Bidirectional):
        return [("/forward", layer.forward_layer), ("/backward", layer.backward_layer)]
    return [("", layer)]


def _is_recurrent(layer):
    return all(cells.cell_kind(rnn) is not None for _, rnn in _directions(layer)) and (
        isinstance(layer, keras.layers.Bidirectional) or cells.cell_kind(layer) is not None)


def list_recurrent(model):
    """Paths of the recurrent layer calls of ``model`` (nested models expanded), in model order.

    >>> inp = keras.Input((None, 3))
    >>> seq = keras.layers.LSTM(4, return_sequences=True, name="lstm")(inp)
    >>> out = keras.layers.Bidirectional(keras.layers.GRU(2), name="bi")(seq)
    >>> list_recurrent(keras.Model(inp, out))
    ['lstm', 'bi']
    """
    return [t.path for t in taps.list_taps(model, include_all=True) if _is_recurrent(t.layer)]


def _resolve(model, layers):
    available = list_recurrent(model)
    if not available:
        raise ValueError(f"model {model.name!r} has no LSTM, GRU or SimpleRNN layer (plain or in "
                         "Bidirectional) to trace")
    if layers is None:
        return available
    paths = taps.resolve(model, layers)
    other = [p for p in paths if p not in available]
    if other:
        raise ValueError(f"layer(s) {other} of model {model.name!r} are not LSTM, GRU or SimpleRNN layers "
                         f"(plain or in Bidirectional); the recurrent layers are: {available}")
    return paths


def _input_and_mask(node):
    """A recurrent call's sequence input and, when Keras passes one, its mask."""
    args, kwargs = node.arguments.args, node.arguments.kwargs
    if len(args) > 1 or kwargs.get("initial_state") is not None:
        raise ValueError(f"layer {node.operation.name!r} is called with an initial_state; traces start "
                         "from zeros and cannot follow it")
    mask = kwargs.get("mask")
    return [args[0]] if mask is None else [args[0], mask]


class Tracer:
    """The compiled trace function of chosen recurrent layers of one model (see :func:`traces`)."""

    def __init__(self, model, layers=None):
        self.paths = _resolve(model, layers)
        graph = taps._graph(model)
        by_path = {t.path: t.layer for t in taps.list_taps(model, include_all=True)}
        self.layers = [by_path[p] for p in self.paths]
        fed = taps._symbolic(model, set(self.paths), pick=_input_and_mask)
        outputs = [list(fed[p]) for p in self.paths]
        inputs = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs
        self._has_mask = [len(o) == 2 for o in outputs]
        self.feed = keras.Model(inputs, [t for o in outputs for t in o])
        self._compiled = tf.function(self._run, reduce_retracing=True)

    def _run(self, x):
        fed = self.feed(x, training=False)
        fed = list(fed) if isinstance(fed, (list, tuple)) else [fed]
        out = {}
        for path, layer, has_mask in zip(self.paths, self.layers, self._has_mask):
            seq = fed.pop(0)
            mask = fed.pop(0) if has_mask else None
            for suffix, rnn in _directions(layer):
                out[path + suffix] = cell_traces(rnn, seq, mask)
        return out

    def __call__(self, inputs):
        """``{path: {kind: numpy [B, T, units]}}`` for a batch of model inputs."""
        result = self._compiled(inputs)
        return {p: {k: v.numpy() for k, v in kinds.items()} for p, kinds in result.items()}


_TRACERS = weakref.WeakKeyDictionary()


def traces(model, inputs, layers=None):
    """Per-timestep hidden, cell and gate values of the recurrent layers of ``model`` on ``inputs``.

    Args:
      model: a built Keras 3 model (Sequential, Functional, nested models) with ``LSTM``, ``GRU`` or
        ``SimpleRNN`` layers, plain or inside ``Bidirectional``.
      inputs: a batch of model inputs (a list for multi-input models), e.g. token ids ``[B, T]``.
      layers: None for every recurrent layer, or names, paths or layer objects.

    Returns:
      ``{layer path: {kind: [B, T, units]}}`` (numpy); see the module docstring for the kinds.

    The compiled function is kept per (model, layers), so later calls cost one pass.

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(20, 4),
    ...                           keras.layers.LSTM(6, return_sequences=True, name="lstm")])
    >>> t = traces(model, np.array([[1, 2, 3, 4, 5]]))
    >>> sorted(t["lstm"]), t["lstm"]["forget_gate"].shape
    (['candidate', 'cell', 'forget_gate', 'hidden', 'input_gate', 'output_gate'], (1, 5, 6))
    >>> bool(np.allclose(t["lstm"]["hidden"], model(np.array([[1, 2, 3, 4, 5]])), atol=1e-5))
    True
    """
    key = repr(layers) if layers is None or isinstance(layers, str) else repr(
        [id(x) if isinstance(x, keras.layers.Layer) else x for x in layers])
    per_model = _TRACERS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = Tracer(model, layers)
    return per_model[key](inputs)


# ---------------------------------------------------------------------------------------------------------
# The time loops
# ---------------------------------------------------------------------------------------------------------


def cell_traces(layer, x, mask=None):
    """Traces of one plain recurrent layer on its input ``x [B, T, D]`` (``mask [B, T]`` or None).

    Float64 input is traced in float64, anything else in float32. Returns ``{kind: [B, T, units]}``
    in ``x``'s time order.

    >>> import numpy as np
    >>> gru = keras.layers.GRU(3, return_sequences=True, go_backwards=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    >>> out = gru(x)                                  # processing order: reversed
    >>> t = cell_traces(gru, x)
    >>> bool(np.allclose(t["hidden"][:, ::-1], out, atol=1e-5))
    True
    """
    kind = cells.cell_kind(layer)
    if kind is None:
        raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not an LSTM, GRU or SimpleRNN layer")
    if getattr(layer.cell, "kernel", None) is None:
        raise ValueError(f"layer {layer.name!r} is not built; call the model on an input first")
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 3:
        raise ValueError(f"layer {layer.name!r}: the input must be [batch, time, features], got {x.shape}")
    dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
    x = tf.cast(x, dtype)
    batch, steps = tf.shape(x)[0], tf.shape(x)[1]
    mask = tf.ones(tf.stack([batch, steps]), tf.bool) if mask is None else tf.cast(mask, tf.bool)
    backwards = bool(getattr(layer, "go_backwards", False))
    if backwards:
        x, mask = tf.reverse(x, [1]), tf.reverse(mask, [1])
    step_fn, xw, init = _LOOPS[kind](layer.cell, x, dtype)
    names = TRACE_KINDS[kind]

    def step(carry, elems):
        xw_t, m_t = elems
        new = step_fn(carry, xw_t)
        keep = m_t[:, None]
        return tuple(tf.where(keep, n, c) for n, c in zip(new, carry))

    seqs = tf.scan(step, (tf.transpose(xw, [1, 0, 2]), tf.transpose(mask)), initializer=init)
    out = {}
    for name, seq in zip(names, seqs):
        seq = tf.transpose(seq, [1, 0, 2])
        out[name] = tf.reverse(seq, [1]) if backwards else seq
    return out


def _zeros(x, units, n):
    z = tf.zeros(tf.stack([tf.shape(x)[0], units]), x.dtype)
    return (z,) * n


def _lstm_loop(cell, x, dtype):
    units, k, u, b = cells.lstm_weights(cell, dtype)
    act, rec = cell.activation, cell.recurrent_activation
    xw = tf.einsum("btd,dk->btk", x, k) + b  # the input's part of every gate, in one matmul

    def step(carry, xw_t):
        h, c = carry[0], carry[1]
        z_i, z_f, z_g, z_o = tf.split(xw_t + tf.linalg.matmul(h, u), 4, axis=-1)
        i, f, o, g = rec(z_i), rec(z_f), rec(z_o), act(z_g)
        c = f * c + i * g
        return (o * act(c), c, i, f, o, g)

    return step, xw, _zeros(x, units, 6)


def _gru_loop(cell, x, dtype):
    units, k, u, b_in, b_rec = cells.gru_weights(cell, dtype)
    act, rec = cell.activation, cell.recurrent_activation
    reset_after = bool(cell.reset_after)
    u_zr, u_h = u[:, :2 * units], u[:, 2 * units:]
    xw = tf.einsum("btd,dk->btk", x, k) + b_in

    def step(carry, xw_t):
        h = carry[0]
        x_z, x_r, x_h = tf.split(xw_t, 3, axis=-1)
        rz, rr = tf.split(tf.linalg.matmul(h, u_zr) + b_rec[:2 * units], 2, axis=-1)
        z, r = rec(x_z + rz), rec(x_r + rr)
        if reset_after:
            hh = act(x_h + r * (tf.linalg.matmul(h, u_h) + b_rec[2 * units:]))
        else:
            hh = act(x_h + tf.linalg.matmul(r * h, u_h))
        return (z * h + (1.0 - z) * hh, z, r, hh)

    return step, xw, _zeros(x, units, 4)


def _simple_loop(cell, x, dtype):
    units, k, u, b = cells.simple_rnn_weights(cell, dtype)
    act = cell.activation
    xw = tf.einsum("btd,dk->btk", x, k) + b

    def step(carry, xw_t):
        return (act(xw_t + tf.linalg.matmul(carry[0], u)),)

    return step, xw, _zeros(x, units, 1)


_LOOPS = {"lstm": _lstm_loop, "gru": _gru_loop, "simple_rnn": _simple_loop}

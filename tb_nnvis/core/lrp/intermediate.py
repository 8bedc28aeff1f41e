"""Relevance inside the network: at the outputs of named layers (from the same backward pass), and
heatmaps of single units (LRP started at a unit's activation instead of a logit).

- :func:`attribute_layers`: the input relevance and the relevance of every unit of chosen layers, in one
  compiled pass; summed over positions, a layer's relevance per unit says which units carry the
  decision (zennit-crp's concept relevance).
- :func:`unit_heatmaps`: for each example and unit, the input-space heatmap of that unit: relevance starts
  at the unit's activation (all positions) and is propagated to the input with the composite's rules,
  batched over examples × units.

Example:
    >>> import numpy as np, keras
    >>> from tb_nnvis.core.lrp.intermediate import attribute_layers, unit_heatmaps
    >>> m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
    ...                       keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
    >>> x = np.random.rand(2, 6, 6, 1).astype("float32")
    >>> rel, layers, targets, logits = attribute_layers(m, x, ["conv"], composite="epsilon")
    >>> layers["conv"].shape, unit_heatmaps(m, x, "conv", [0, 2]).shape
    ((2, 4, 4, 3), (2, 2, 6, 6, 1))
"""
import numpy as np
import tensorflow as tf

from .engine import explainer, prepare_inputs, targets_for
from .errors import LRPError
from .graph import Program


def layer_key(exp, name):
    """The graph key of the output of layer ``name`` (its plain name or ``"outer/inner"`` path).

    A BatchNormalization folded into a layer moves that layer's output to the BatchNorm's output.
    """
    plain = name.rsplit("/", 1)[-1]
    steps = [s for s in exp.program.steps if s.layer.name == plain]
    if not steps:
        names = sorted({s.layer.name for s in exp.program.steps})
        raise LRPError(f"no layer {name!r} on the path to the model's output; layers are: {', '.join(names)}")
    if len({id(s.layer) for s in steps}) > 1:
        raise LRPError(f"layer name {name!r} is ambiguous (several nested layers have it); rename one")
    calls = sum(s.layer is steps[0].layer for s in Program(exp.model).steps)  # before canonizing
    if calls != 1:
        raise LRPError(f"layer {name!r} is called {calls} times; relevance per unit needs a layer called once")
    own_inputs = {k for s in steps for k in s.inputs}
    ends = [k for s in steps for k in s.outputs if k not in own_inputs]
    if not any(ends[0] in s.outputs for s in exp.steps):
        raise LRPError(f"layer {name!r} does not lead to the model's output, so it gets no relevance")
    return ends[0]


def layer_units(exp, name):
    """How many units (last axis) the output of layer ``name`` has, or None if unknown."""
    plain = name.rsplit("/", 1)[-1]
    layer = next(s.layer for s in exp.program.steps if s.layer.name == plain)
    try:
        return int(layer.output.shape[-1])
    except (AttributeError, ValueError, TypeError):
        return None


def _start_pass(exp, start_key):
    """``(inputs, units) -> input relevance`` of LRP started at each row's unit of ``start_key``."""
    def run(xs, units):
        return exp._run(xs, -tf.ones_like(units), start=(start_key, units))[0]
    return run


def _variant(exp, record=(), start_key=None):
    """A compiled variant of the explainer's pass, cached on it: recording keys, or starting at a key."""
    cache = exp.__dict__.setdefault("_variants", {})
    key = (tuple(record), start_key)
    if key not in cache:
        signature = list(exp.fn.input_signature[:2])  # (inputs, targets)
        if start_key is None:
            fn = lambda xs, t: exp._run(xs, t, record=tuple(record))  # noqa: E731
        else:
            fn = _start_pass(exp, start_key)
        cache[key] = tf.function(fn, input_signature=signature, autograph=False)
    return cache[key]


def attribute_layers(model, x, layers, target=None, composite="epsilon_plus", compiled=True, **preset_kwargs):
    """Relevance of the inputs and of the outputs of named layers, from one backward pass.

    Args:
        model, x, target, composite, preset_kwargs: as for :func:`tb_nnvis.lrp.attribute`.
        layers: layer names (or ``"nested/name"`` paths), each called once in the model.
        compiled: run the compiled pass (traced once per model, composite and layers); False runs it
            eagerly, which is cheaper than tracing for the first few calls (a callback that writes per epoch).

    Returns:
        ``(relevance, {name: relevance at the layer's output [B, ..., units]}, targets [B], logits)``.
        Relevance at a layer with a fused activation is that of its activated output; with rules that
        conserve relevance, each layer's total equals the input's total.

    Example:
        >>> import numpy as np, keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu", use_bias=False,
        ...                       name="h"), keras.layers.Dense(2, use_bias=False)])
        >>> x = np.random.rand(3, 4).astype("float32")
        >>> rel, at, t, logits = attribute_layers(m, x, ["h"], composite="epsilon")
        >>> bool(np.allclose(at["h"].sum(1), rel.sum(1), rtol=1e-3, atol=1e-5))
        True
    """
    exp = explainer(model, composite, **preset_kwargs)
    names = [layers] if isinstance(layers, str) else list(layers)
    keys = tuple(layer_key(exp, n) for n in names)
    xs, multi = prepare_inputs(exp, x)
    t = targets_for(exp, target, int(xs[0].shape[0]))
    if not compiled:
        out = exp._run(xs, tf.constant(t), record=keys)
    else:
        out = _variant(exp, record=keys)(xs, tf.constant(t)) if keys else exp.fn(xs, tf.constant(t))
    (rel, used, logits), at = out[:3], (out[3] if keys else [])
    rel = [r.numpy() for r in rel]
    return (rel if multi else rel[0]), {n: a.numpy() for n, a in zip(names, at)}, used.numpy(), logits.numpy()


def unit_heatmaps(model, x, layer, units, composite="epsilon_plus", batch_size=256, compiled=True, **preset_kwargs):
    """For each example and unit of ``layer``, the relevance of the inputs when LRP starts at that unit's
    activation (summed over its positions) instead of a logit: which inputs make the unit fire.

    Args:
        model, x, composite, preset_kwargs: as for :func:`tb_nnvis.lrp.attribute`.
        layer: the layer's name; units: unit indices (its last axis).
        batch_size: rows (example × unit pairs) per call.
        compiled: as for :func:`attribute_layers`.

    Returns:
        ``[B, len(units), ...]``: per example and unit, relevance shaped like one input (per token for an
        Embedding input); for multi-input models, of the first input.

    Example:
        >>> import numpy as np, keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", use_bias=False,
        ...                       name="h"), keras.layers.Dense(2)])
        >>> x = np.random.rand(2, 4).astype("float32")
        >>> h = unit_heatmaps(m, x, "h", [1], composite="epsilon")
        >>> act = keras.Model(m.inputs, m.get_layer("h").output)(x).numpy()[:, 1]
        >>> bool(np.allclose(h[:, 0].sum(-1), act, rtol=1e-3))  # a bias-free unit conserves its activation
        True
    """
    exp = explainer(model, composite, **preset_kwargs)
    key = layer_key(exp, layer)
    units = np.asarray(units, dtype=np.int32).reshape(-1)
    count = layer_units(exp, layer)
    if units.size and (units.min() < 0 or (count is not None and units.max() >= count)):
        raise ValueError(f"units {units.tolist()} out of range: layer {layer!r} has {count} units")
    xs, _ = prepare_inputs(exp, x)
    b, u = int(xs[0].shape[0]), len(units)
    fn = _variant(exp, start_key=key) if compiled else _start_pass(exp, key)
    rows = np.arange(b * u)
    out = []
    for start in range(0, b * u, batch_size):
        r = rows[start:start + batch_size]
        batch = [tf.gather(t, r // u) for t in xs]
        out.append(fn(batch, tf.constant(units[r % u]))[0].numpy())
    rel = np.concatenate(out) if out else np.zeros((0,) + tuple(xs[0].shape[1:]), np.float32)
    return rel.reshape((b, u) + rel.shape[1:])


def unit_gradients(model, x, layer, units, batch_size=256):
    """Gradient × input for each example and unit of ``layer``: the gradient of the unit's activation summed
    over its positions, times the input (the cheap alternative to :func:`unit_heatmaps`).

    Returns ``[B, len(units), ...]`` shaped like one input; float inputs only (token ids have no gradient:
    use :func:`unit_heatmaps`).

    Example:
        >>> import numpy as np, keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False, name="h"),
        ...                       keras.layers.Dense(2)])
        >>> x = np.ones((1, 3), "float32")
        >>> g = unit_gradients(m, x, "h", [1])
        >>> bool(np.allclose(g[0, 0], m.get_layer("h").kernel.numpy()[:, 1]))
        True
    """
    from tb_nnvis.core import taps

    xs = np.asarray(x)
    if not np.issubdtype(xs.dtype, np.floating):
        raise ValueError(f"gradient × input needs float inputs, got {xs.dtype}; use unit_heatmaps (LRP) for token ids")
    tap = taps.tap_model(model, [layer])
    units = np.asarray(units, dtype=np.int32).reshape(-1)
    b, u = len(xs), len(units)
    out = []
    for start in range(0, b * u, batch_size):
        rows = np.arange(start, min(start + batch_size, b * u))
        batch = tf.convert_to_tensor(xs[rows // u])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            act = tf.convert_to_tensor(next(iter(tap(batch).values())))
            mask = tf.one_hot(units[rows % u], act.shape[-1], dtype=act.dtype)
            picked = tf.reduce_sum(tf.reshape(act, [len(rows), -1, act.shape[-1]]) * mask[:, None, :])
        out.append((tape.gradient(picked, batch) * batch).numpy())
    rel = np.concatenate(out) if out else np.zeros((0,) + xs.shape[1:], np.float32)
    return rel.reshape((b, u) + rel.shape[1:])

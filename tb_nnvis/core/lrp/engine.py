"""The LRP engine: one compiled function per (model, composite) that recomputes the forward pass and
walks the flattened graph backwards, applying each layer's rule.

Relevance starts at the target's logit: the model's output, or the input of a final softmax (a
``Softmax``/``Activation("softmax")`` layer or the last Dense's ``activation="softmax"``).
"""
import weakref

import keras
import numpy as np
import tensorflow as tf

from . import keras_ops
from .canonizers import canonize
from .composites import Composite
from .errors import LRPError, no_rule_message
from .graph import Program

_CACHE = weakref.WeakKeyDictionary()  # model -> {composite key: _Explainer}

_NONNEG_ACTS = {"relu", "relu6", "sigmoid", "softmax", "softplus", "hard_sigmoid", "exponential"}
_KEEPS_SIGN = ("MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling", "Flatten", "Reshape",
               "Permute", "ZeroPadding", "Cropping", "Dropout", "SpatialDropout", "UpSampling", "RepeatVector",
               "Concatenate", "Add", "Average", "Identity")


class _Ctx:
    def __init__(self, nonneg, epsilon):
        self.nonneg, self.epsilon = nonneg, epsilon


def _is_softmax(step):
    layer = step.layer
    if step.kind == "activation":
        return getattr(step.fn, "__name__", "") == "softmax"
    if isinstance(layer, keras.layers.Softmax):
        return True
    return isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "softmax"


def _makes_nonneg(step, in_nonneg):
    """Is the step's output known ≥ 0 (so the next rule can drop its x⁻ terms exactly)?"""
    layer = step.layer
    if step.kind == "activation":
        return getattr(step.fn, "__name__", "") in _NONNEG_ACTS
    if step.kind == "linear":
        return False
    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope or 0) == 0 and float(layer.threshold or 0) >= 0
    if isinstance(layer, keras.layers.Softmax):
        return True
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") in _NONNEG_ACTS
    if not isinstance(layer, keras.layers.Layer):  # a Keras-ops node: x + c keeps the sign only if c ≥ 0
        return keras_ops.nonneg_output(step, in_nonneg)
    name = type(layer).__name__
    return bool(in_nonneg) and all(in_nonneg) and (name.startswith(_KEEPS_SIGN) or name == "Multiply")


class _Explainer:
    """Holds the canonized graph, the rule of every step and the compiled function."""

    def __init__(self, model, composite):
        self.model = model
        prog = canonize(Program(model), fold_bn=composite.fold_batchnorm)
        self.program = prog
        first_found = False
        for step in prog.steps:
            if not first_found and step.kind == "linear" and composite.matches_first(step.layer):
                step.first = first_found = True
        # Start from the logits: skip a final softmax.
        out_key = prog.outputs[0]
        last = prog.producer(out_key)
        skip = set()
        while last is not None and _is_softmax(last) and len(prog.consumers(last.inputs[0])) == 1:
            skip.add(id(last))
            out_key = last.inputs[0]
            last = prog.producer(out_key)
        self.start_key = out_key
        out_shape = tuple(model.outputs[0].shape[1:])
        self.num_classes = int(np.prod(out_shape)) if None not in out_shape else None
        self.steps = [s for s in prog.steps if id(s) not in skip]
        # Drop steps that do not lead to the start tensor.
        needed, kept = {out_key}, []
        for s in reversed(self.steps):
            if any(k in needed for k in s.outputs):
                kept.append(s)
                needed.update(s.inputs)
        self.steps = kept[::-1]
        self.rules = []
        for s in self.steps:
            rule = composite.rule_for(s)
            if rule is None:
                raise LRPError(no_rule_message(s.layer))
            self.rules.append(rule)
        self.epsilon = composite.epsilon
        specs = [tf.TensorSpec((None,) + tuple(shape[1:]), tf.as_dtype(dtype)) for shape, dtype in prog.input_specs]
        # autograph off: the walk is plain Python over a static graph, and converting it costs seconds per trace.
        self.fn = tf.function(self._run, input_signature=[specs, tf.TensorSpec([None], tf.int32)], autograph=False)

    def _run(self, xs, target, record=(), start=None):
        # record: keys whose relevance is also returned (intermediate relevance, same pass);
        # start: (key, unit per row): relevance starts at that unit's activation instead of a logit.
        prog = self.program
        values = dict(zip(prog.inputs, xs))
        nonneg = {k: False for k in prog.inputs}
        for step in self.steps:
            outs = step.call([values[k] for k in step.inputs])
            flag = _makes_nonneg(step, [nonneg[k] for k in step.inputs])
            for k, v in zip(step.outputs, outs):
                values[k], nonneg[k] = v, flag
        logits = values[self.start_key]
        flat = tf.reshape(logits, [tf.shape(logits)[0], -1])
        target = tf.where(target < 0, tf.argmax(flat, axis=-1, output_type=tf.int32), target)
        onehot = tf.one_hot(target, tf.shape(flat)[1], dtype=flat.dtype)
        rel = {self.start_key: tf.reshape(onehot * flat, tf.shape(logits))}
        if start is not None:
            rel = {start[0]: unit_start(values[start[0]], start[1])}
        recorded = {}
        for step, rule in zip(reversed(self.steps), reversed(self.rules)):
            rs = [rel.pop(k, None) for k in step.outputs]
            recorded.update((k, r) for k, r in zip(step.outputs, rs) if k in record and r is not None)
            if all(r is None for r in rs) or not any(values[k].dtype.is_floating for k in step.outputs):
                continue  # integer outputs (positions, indices) pass no relevance on
            zs = [values[k] for k in step.outputs]
            rs = [tf.zeros_like(z) if r is None else r for r, z in zip(rs, zs)]
            xs_in = [values[k] for k in step.inputs]
            ctx = _Ctx([nonneg[k] for k in step.inputs], self.epsilon)
            for k, r in zip(step.inputs, rule.propagate(step, xs_in, zs, rs, ctx)):
                if r is not None:
                    rel[k] = rel[k] + r if k in rel else r
        rels = [rel.get(k, tf.zeros_like(tf.cast(x, tf.float32))) for k, x in zip(prog.inputs, xs)]
        if record:
            return rels, target, logits, [recorded.get(k, tf.zeros_like(values[k])) for k in record]
        return rels, target, logits


def unit_start(activation, units):
    """Relevance that starts at one unit per example: its activation at every position, 0 elsewhere."""
    mask = tf.one_hot(units, tf.shape(activation)[-1], dtype=activation.dtype)
    shape = tf.concat([tf.shape(mask)[:1], tf.ones([tf.rank(activation) - 2], tf.int32), tf.shape(mask)[1:]], 0)
    return activation * tf.reshape(mask, shape)


def _targets(target, batch, exp):
    """One class index per example, checked against the number of logits."""
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer) or t.ndim > 1 or (t.ndim == 1 and len(t) != batch):
        raise ValueError(f"target must be None, an int, or {batch} ints (one per example), got {target!r}.")
    classes = exp.num_classes
    if classes is not None and (np.any(t < 0) or np.any(t >= classes)):
        raise ValueError(f"target {target!r} is out of range: the model has {classes} logits (0..{classes - 1}).")
    return np.broadcast_to(t.astype(np.int32), (batch,)).copy()


def _composite(composite, preset_kwargs):
    if isinstance(composite, Composite):
        if preset_kwargs:
            raise TypeError("Preset keyword arguments only apply to a composite given by name.")
        return composite
    return Composite.preset(composite, **preset_kwargs)


def explainer(model, composite="epsilon_plus", **preset_kwargs):
    """The cached explainer of (model, composite); ``.fn(inputs, targets)`` is the compiled function and
    returns (relevance per input, targets used, logits). Targets < 0 mean "the predicted class".

    Example:
        >>> import numpy as np, keras
        >>> from tb_nnvis.lrp import explainer
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> rel, target, logits = explainer(m, "epsilon").fn([np.ones((1, 4), "float32")], np.array([-1], "int32"))
    """
    comp = _composite(composite, preset_kwargs)
    per_model = _CACHE.setdefault(model, {})
    key = comp.key()
    if key not in per_model:
        per_model[key] = _Explainer(model, comp)
    return per_model[key]


def attribute(model, x, target=None, composite="epsilon_plus", layers=None, **preset_kwargs):
    """Layer-wise relevance of each input value for the target class, as a numpy array shaped like ``x``.

    Args:
        model: a built Keras 3 Sequential/Functional model (nested models and shared layers allowed).
        x: a batch (numpy/tensor), or a list of batches for a multi-input model.
        target: None (the predicted class), an int, or one int per example.
        composite: a preset name (``"epsilon"``, ``"epsilon_plus"``, ``"epsilon_alpha2_beta1"``,
            ``"epsilon_plus_flat"``, ``"epsilon_alpha2_beta1_flat"``, ``"epsilon_gamma_box"``,
            ``"attn_lrp"`` for transformers) or a :class:`Composite`.
        **preset_kwargs: the preset's parameters, e.g. ``low=0., high=1.`` for ``epsilon_gamma_box``,
            ``cp_lrp=True`` for ``attn_lrp``,
            ``epsilon=``, ``layer_map={MyLayer: Pass()}``, ``name_map={"fc": Epsilon(0.1)}``.
        layers: optional layer names; then the result is ``(relevance, {name: relevance at the layer's
            output})``, from the same pass (see :func:`tb_nnvis.core.lrp.intermediate.attribute_layers`).

    Returns:
        Relevance shaped like ``x`` (a list for multi-input models). For an input read by an
        Embedding the relevance is per token, shaped like the ids ([B, T]): the embedding axis is summed.
        With a conserving rule (bias-free layers) it sums to the target's logit.

    Example:
        >>> import numpy as np, keras
        >>> from tb_nnvis.lrp import attribute
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
        ...                       keras.layers.Dense(3, activation="softmax")])
        >>> r = attribute(m, np.random.rand(2, 4).astype("float32"), target=1, composite="epsilon")
        >>> r.shape
        (2, 4)
    """
    if layers is not None:
        from .intermediate import attribute_layers

        rel, at_layers, _, _ = attribute_layers(model, x, layers, target, composite, **preset_kwargs)
        return rel, at_layers
    exp = explainer(model, composite, **preset_kwargs)
    xs, multi = prepare_inputs(exp, x)
    rel, _, _ = exp.fn(xs, tf.constant(targets_for(exp, target, int(xs[0].shape[0]))))
    rel = [r.numpy() for r in rel]
    return rel if multi else rel[0]


def prepare_inputs(exp, x):
    """``(list of input tensors, whether x was a list)``, checked against the model's inputs."""
    multi = isinstance(x, (list, tuple))
    xs = list(x) if multi else [x]
    specs = exp.program.input_specs
    if len(xs) != len(specs):
        raise ValueError(f"The model takes {len(specs)} inputs, got {len(xs)}.")
    arrays = [np.asarray(v) for v in xs]
    for i, (a, (shape, _)) in enumerate(zip(arrays, specs)):
        if tuple(a.shape[1:]) != tuple(shape[1:]):
            raise ValueError(f"Input {i} has shape {a.shape}; the model expects {(None,) + tuple(shape[1:])}.")
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            raise ValueError(f"Input {i} contains NaN or Inf; relevance is not defined for them.")
    return [tf.convert_to_tensor(a, dtype=tf.as_dtype(dt)) for a, (_, dt) in zip(arrays, specs)], multi


def targets_for(exp, target, batch):
    """int32 ``[batch]`` class indices; -1 (the predicted class) for ``target=None``."""
    return np.full(batch, -1, np.int32) if target is None else _targets(target, batch, exp)

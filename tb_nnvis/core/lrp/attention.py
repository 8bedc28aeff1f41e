"""Attention by AttnLRP (Achtibat et al., ICML 2024; the rules of its library LXT), CP-LRP as an option.

Keras computes ``MultiHeadAttention`` through ``ops.dot_product_attention``; the rule takes it apart:

- query/key/value and output projections (``EinsumDense``): ε-rule, the bias absorbs like any bias;
- the 1/√key_dim scaling (and ``Attention``'s learned scale): identity;
- query·key and attention·value: the uniform rule, half of the relevance to each factor, with the
  ε-stabiliser on 2z (:func:`uniform_bilinear`);
- softmax over the key axis: R_in = x ⊙ (R − s·ΣR) on the scaled scores x (:func:`softmax_relevance`);
  it does not conserve, by design; masked positions get none.

With ``cp=True`` (CP-LRP, Ali et al. 2022) the attention weights are constants: all relevance goes
to the values through the ε-rule, nothing to queries and keys, and the layer conserves.
"""
import inspect

import keras
import tensorflow as tf
from keras import ops as kops

from .errors import LRPError, no_rule_message
from .rules import Rule, _div


def epsilon_linear(fn, x, z, r, epsilon):
    """ε-rule through the linear map ``fn`` whose (biased) output is ``z``: x ⊙ ∂(fn(x)·s)/∂x, s = r / stab(z).

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> x = tf.constant([[1., 2.]]); w = tf.constant([[1.], [1.]])
        >>> epsilon_linear(lambda t: t @ w, x, x @ w, tf.constant([[3.]]), 0.0).numpy()
        array([[1., 2.]], dtype=float32)
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return x * tape.gradient(y, x, output_gradients=_div(r, z, epsilon))


def uniform_bilinear(fn, a, b, r, epsilon):
    """AttnLRP's uniform rule for a bilinear z = fn(a, b): (R_a, R_b) with R = x ⊙ ∂(z·s)/∂x, s = r / stab(2z).

    Example:
        >>> import tensorflow as tf
        >>> ra, rb = uniform_bilinear(tf.matmul, tf.constant([[2.]]), tf.constant([[3.]]), tf.constant([[1.]]), 0.0)
        >>> float(ra[0, 0]), float(rb[0, 0])
        (0.5, 0.5)
    """
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        z = fn(a, b)
    ga, gb = tape.gradient(z, [a, b], output_gradients=_div(r, 2.0 * z, epsilon))
    return a * ga, b * gb


def softmax_relevance(x, s, r, axes=(-1,), keep=None):
    """AttnLRP's softmax rule: R_in = x ⊙ (R − s·ΣR) over ``axes`` (x: softmax input, s: its output);
    zero where ``keep`` is False (masked scores).

    Example:
        >>> import tensorflow as tf
        >>> x = tf.constant([[1., 2.]]); s = tf.nn.softmax(x)
        >>> softmax_relevance(x, s, tf.constant([[0., 1.]])).shape
        TensorShape([1, 2])
    """
    out = x * (r - s * tf.reduce_sum(r, axis=list(axes), keepdims=True))
    return out if keep is None else tf.where(keep, out, tf.zeros_like(out))


def _projection(dense, x):
    """(bias-free linear map, its biased output on x) of an EinsumDense."""
    kernel = tf.convert_to_tensor(dense.kernel)

    def fn(t):
        return kops.einsum(dense.equation, t, kernel)
    z = fn(x)
    return fn, z if dense.bias is None else z + tf.convert_to_tensor(dense.bias)


def _to_inputs(xs, named):
    """Relevance per step input from {tensor-name: (tensor, relevance)}; an input used twice (self-attention)
    gets the sum once."""
    out, seen = [], set()
    for x in xs:
        if id(x) in seen or not x.dtype.is_floating:
            out.append(None)
            continue
        seen.add(id(x))
        parts = [r for t, r in named.values() if t is x and r is not None]
        out.append(tf.add_n(parts) if parts else None)
    return out


def _mask_of(step, xs, tensor):
    return next((m for x, m in zip(xs, step.in_masks or [None] * len(xs)) if x is tensor), None)


class AttnLRP(Rule):
    """AttnLRP for ``MultiHeadAttention`` (self- and cross-attention, masks, any number of heads) and
    ``Attention`` (dot scores). ``cp=True``: CP-LRP (attention weights held constant).
    ``epsilon=None`` uses the composite's ε.

    Example:
        >>> import numpy as np, keras
        >>> from tb_nnvis.lrp import attribute
        >>> x = keras.Input((5, 8)); y = keras.layers.MultiHeadAttention(2, 4)(x, x)
        >>> m = keras.Model(x, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(y)))
        >>> attribute(m, np.random.rand(1, 5, 8).astype("float32"), composite="attn_lrp").shape
        (1, 5, 8)
    """

    def __init__(self, epsilon=None, cp=False):
        self.epsilon, self.cp = epsilon, bool(cp)

    def propagate(self, step, xs, zs, rs, ctx):
        eps = ctx.epsilon if self.epsilon is None else self.epsilon
        layer = step.layer
        args, kwargs = step.arguments(xs)
        bound = inspect.signature(layer.call).bind(*args, **kwargs).arguments
        if isinstance(layer, keras.layers.MultiHeadAttention):
            named = self._multi_head(layer, step, xs, bound, rs[0], eps)
        elif isinstance(layer, keras.layers.Attention):
            named = self._dot(layer, step, xs, bound, rs[0], eps)
        else:
            raise LRPError(no_rule_message(layer, "is not a MultiHeadAttention or Attention layer, so AttnLRP "
                                                  "cannot apply to it"))
        return _to_inputs(xs, named)

    def _multi_head(self, layer, step, xs, bound, r, eps):
        if getattr(layer, "_use_gate", False):
            raise LRPError(no_rule_message(layer, "uses a gated output (use_gate=True), which AttnLRP does not "
                                                  "cover yet"))
        query, value = bound["query"], bound["value"]
        key = bound.get("key")
        key = value if key is None else key
        mask = layer._compute_attention_mask(
            query, value, query_mask=_mask_of(step, xs, query), value_mask=_mask_of(step, xs, value),
            key_mask=_mask_of(step, xs, key) if key is not value else None,
            attention_mask=bound.get("attention_mask"), use_causal_mask=bool(bound.get("use_causal_mask", False)))
        q_fn, q = _projection(layer._query_dense, query)
        k_fn, k = _projection(layer._key_dense, key)
        v_fn, v = _projection(layer._value_dense, value)
        qs = q * tf.cast(layer._inverse_sqrt_key_dim, q.dtype)
        dot_eq, comb_eq = layer._dot_product_equation, layer._combine_equation
        scores = kops.einsum(dot_eq, k, qs)
        probs = layer._masked_softmax(scores, mask)
        context = kops.einsum(comb_eq, probs, v)
        o_fn, y = _projection(layer._output_dense, context)
        r_ctx = epsilon_linear(o_fn, context, y, r, eps)
        if self.cp:
            r_v = epsilon_linear(lambda t: kops.einsum(comb_eq, probs, t), v, context, r_ctx, eps)
            r_q = r_k = None
        else:
            r_p, r_v = uniform_bilinear(lambda a, b: kops.einsum(comb_eq, a, b), probs, v, r_ctx, eps)
            keep = None
            if mask is not None:
                keep = tf.cast(mask, tf.bool)
                for _ in range(len(scores.shape) - len(keep.shape)):
                    keep = tf.expand_dims(keep, -len(layer._attention_axes) * 2 - 1)
                keep = tf.broadcast_to(keep, tf.shape(scores))
            axes = list(range(len(scores.shape) - len(layer._attention_axes), len(scores.shape)))
            r_s = softmax_relevance(scores, probs, r_p, axes, keep)
            r_k, r_q = uniform_bilinear(lambda a, b: kops.einsum(dot_eq, a, b), k, qs, r_s, eps)  # scaling: identity
        return {
            "query": (query, None if r_q is None else epsilon_linear(q_fn, query, q, r_q, eps)),
            "key": (key, None if r_k is None else epsilon_linear(k_fn, key, k, r_k, eps)),
            "value": (value, epsilon_linear(v_fn, value, v, r_v, eps)),
        }

    def _dot(self, layer, step, xs, bound, r, eps):
        if layer.score_mode != "dot":
            raise LRPError(no_rule_message(layer, f"scores by {layer.score_mode!r}; AttnLRP covers "
                                                  f"score_mode='dot' only"))
        inputs = bound["inputs"]
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        masks = bound.get("mask") or [_mask_of(step, xs, q), _mask_of(step, xs, v)]
        q_mask, v_mask = (list(masks) + [None, None])[:2]
        raw = tf.matmul(q, k, transpose_b=True)
        scores = raw if layer.scale is None else raw * tf.convert_to_tensor(layer.scale)
        keep = layer._calculate_score_mask(scores, v_mask, bool(bound.get("use_causal_mask", False)))
        if keep is not None:
            keep = tf.cast(keep, tf.bool)
            if len(keep.shape) == 2:
                keep = tf.expand_dims(keep, -2)
            keep = tf.broadcast_to(keep, tf.shape(scores))
            probs = tf.nn.softmax(tf.where(keep, scores, scores - 1e9), axis=-1)
        else:
            probs = tf.nn.softmax(scores, axis=-1)
        out = tf.matmul(probs, v)
        if q_mask is not None:
            r = tf.where(tf.expand_dims(tf.cast(q_mask, tf.bool), -1), r, tf.zeros_like(r))
        if self.cp:
            return {"value": (v, epsilon_linear(lambda t: tf.matmul(probs, t), v, out, r, eps))}
        r_p, r_v = uniform_bilinear(tf.matmul, probs, v, r, eps)
        r_s = softmax_relevance(scores, probs, r_p, (-1,), keep)  # the learned scale: identity
        r_q, r_k = uniform_bilinear(lambda a, b: tf.matmul(a, b, transpose_b=True), q, k, r_s, eps)
        return {"query": (q, r_q), "key": (k, r_k), "value": (v, r_v)}


class SoftmaxAttnLRP(Rule):
    """AttnLRP's softmax rule for a ``Softmax`` layer or ``ops.softmax`` node inside the network (a final
    softmax is skipped by the engine): R_in = x ⊙ (R − s·ΣR) over the layer's axis.

    Example:
        >>> from tb_nnvis.core.lrp.attention import SoftmaxAttnLRP
        >>> SoftmaxAttnLRP()
        SoftmaxAttnLRP()
    """

    def propagate(self, step, xs, zs, rs, ctx):
        axis = getattr(step.layer, "axis", -1)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        return [softmax_relevance(xs[0], zs[0], rs[0], axes)] + [None] * (len(xs) - 1)

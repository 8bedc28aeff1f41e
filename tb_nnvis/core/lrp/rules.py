"""LRP rules as small classes, with zennit's names, parameters and definitions (zennit 0.5, ``rules.py``).

Every rule follows one mechanism: evaluate the layer's linear map with modified inputs/weights/bias,
divide the output relevance by the stabilised modified output, send the quotient back through the
transposed map (the gradient of the same map) and multiply by the (modified) input:

    R_in = Σ_terms  x_mod ⊙ Wᵀ_mod (R_out / stabilize(z_mod))

The stabiliser is zennit's: ``z + ε·sign(z)`` with sign(0) = +1. Where zennit splits the input
by sign (x⁺ = max(x, 0), x⁻ = min(x, 0)) so do we; the x⁻ terms are dropped, exactly, when the input
is known to be non-negative (it comes out of a ReLU, a softmax, ...): that is the main speed trick.

Example:
    >>> import numpy as np, keras
    >>> from tb_nnvis.lrp import attribute, Composite, Epsilon, ZPlus
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False)])
    >>> r = attribute(m, np.ones((1, 3), "float32"), composite=Composite(layer_map={keras.layers.Dense: Epsilon()}))
    >>> r.shape
    (1, 3)
"""
import numpy as np
import tensorflow as tf

from .errors import LRPError, no_rule_message


def stabilize(z, epsilon=1e-6):
    """zennit's stabiliser: z + ε·sign(z), with sign(0) = +1, so the result is never 0 for ε > 0."""
    return z + tf.where(z >= 0, tf.cast(epsilon, z.dtype), tf.cast(-epsilon, z.dtype))


def _div(r, z, epsilon):
    # divide_no_nan only matters for ε = 0 (LRP-0), where 0/0 appears at dead units that carry no relevance;
    # for ε > 0 the stabilised denominator is never 0 and the plain (cheaper) division gives the same result.
    if isinstance(epsilon, (int, float)) and epsilon > 0:
        return r / stabilize(z, epsilon)
    return tf.math.divide_no_nan(r, stabilize(z, epsilon))


def _pos(t):
    return tf.maximum(t, 0.0)


def _neg(t):
    return tf.minimum(t, 0.0)


class Rule:
    """Base class. ``propagate(step, xs, zs, rs, ctx)`` returns one relevance per input of the layer.

    ``xs``: the layer's inputs, ``zs``: its outputs (pre-activation for a Dense/conv with a fused
    activation), ``rs``: relevance of the outputs, ``ctx.nonneg[i]``: input i is known ≥ 0.
    """

    def propagate(self, step, xs, zs, rs, ctx):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


class LinearRule(Rule):
    """A rule defined on a layer's linear map (Dense or a convolution; BatchNorm folded in)."""

    def propagate(self, step, xs, zs, rs, ctx):
        if step.op is None:
            raise LRPError(no_rule_message(step.layer, f"is not a Dense/convolution, so {type(self).__name__} "
                                                       f"cannot apply to it"))
        op, x, z, r = step.op, xs[0], zs[0], rs[0]
        if ctx.nonneg[0] or not self.splits_by_sign or not getattr(step, "sign_unknown", True):
            return [self.linear(op, x, z, r, ctx.nonneg[0])]
        # Not known ≥ 0 from the graph (e.g. images in [0, 1] at the input): decide at run time. The
        # x⁻ terms vanish exactly when x ≥ 0, so the cheaper branch gives the same relevance.
        return [tf.cond(tf.reduce_all(x >= 0), lambda: self.linear(op, x, z, r, True),
                        lambda: self.linear(op, x, z, r, False))]

    # Rules whose definition splits the input by sign have a cheaper exact form for x ≥ 0.
    splits_by_sign = False

    def linear(self, op, x, z, r, nonneg):
        raise NotImplementedError


class Epsilon(LinearRule):
    """LRP-ε: R_i = x_i Σ_j w_ij R_j / (z_j + ε·sign(z_j)). ``epsilon=0`` gives LRP-0.

    On a layer without weights (e.g. pooling) it spreads relevance in proportion to the input's
    contribution to the layer's own output, like :class:`Norm` with this ε.
    """

    def __init__(self, epsilon=1e-6):
        self.epsilon = epsilon

    def propagate(self, step, xs, zs, rs, ctx):
        if step.op is None:
            return Norm(self.epsilon).propagate(step, xs, zs, rs, ctx)
        return super().propagate(step, xs, zs, rs, ctx)

    def linear(self, op, x, z, r, nonneg):
        w, _ = op.params()
        return x * op.vjp(x, w, _div(r, z, self.epsilon))


class ZPlus(LinearRule):
    """LRP-z⁺ as zennit defines it (α=1, β=0 with inputs split by sign):
    z = x⁺·W⁺ + b⁺ + x⁻·W⁻ and R = x⁺ ⊙ W⁺ᵀ s + x⁻ ⊙ W⁻ᵀ s, s = R_out / stabilize(z)."""

    splits_by_sign = True

    def __init__(self, stabilizer=1e-6):
        self.stabilizer = stabilizer

    def linear(self, op, x, z, r, nonneg):
        w, b = op.params()
        wp, wn = _pos(w), _neg(w)
        bp = None if b is None else _pos(b)
        if nonneg:
            s = _div(r, op.forward(x, wp, bp), self.stabilizer)
            return x * op.vjp(x, wp, s)
        # Signed x: the positive contributions are (x_i·w_ji)⁺ = (x_i·w_ji + |x_i|·|w_ji|) / 2, so
        # x⁺W⁺ + x⁻W⁻ = (z − b + |x||W|) / 2 reuses the forward output z: 3 convolutions instead of 4.
        xa, wa = tf.abs(x), tf.abs(w)
        zb = z if b is None else op.add_bias(z, -b)
        zp = 0.5 * (zb + op.apply(xa, wa))
        s = _div(r, zp if bp is None else op.add_bias(zp, bp), self.stabilizer)
        return 0.5 * (x * op.vjp(x, w, s) + xa * op.vjp(x, wa, s))


class AlphaBeta(LinearRule):
    """LRP-αβ (zennit): positive contributions x⁺W⁺ + x⁻W⁻ (+ b⁺) weighted by α, negative ones
    x⁺W⁻ + x⁻W⁺ (+ b⁻) by β, each normalised by its own stabilised sum. Requires α − β = 1."""

    splits_by_sign = True

    def __init__(self, alpha=2.0, beta=1.0, stabilizer=1e-6):
        if alpha < 0 or beta < 0:
            raise ValueError("Both alpha and beta must be non-negative.")
        if alpha - beta != 1.0:
            raise ValueError("alpha - beta must equal 1.")
        self.alpha, self.beta, self.stabilizer = float(alpha), float(beta), stabilizer

    def linear(self, op, x, z, r, nonneg):
        w, b = op.params()
        wp, wn = _pos(w), _neg(w)
        bp, bn = (None, None) if b is None else (_pos(b), _neg(b))
        if nonneg:
            sp = _div(r, op.forward(x, wp, bp), self.stabilizer)
            sn = _div(r, op.forward(x, wn, bn), self.stabilizer)
            return x * (self.alpha * op.vjp(x, wp, sp) - self.beta * op.vjp(x, wn, sn))
        xp, xn = _pos(x), _neg(x)
        sp = _div(r, op.forward(xp, wp, bp) + op.apply(xn, wn), self.stabilizer)
        sn = _div(r, op.forward(xp, wn, bn) + op.apply(xn, wp), self.stabilizer)
        pos = xp * op.vjp(x, wp, sp) + xn * op.vjp(x, wn, sp)
        neg = xp * op.vjp(x, wn, sn) + xn * op.vjp(x, wp, sn)
        return self.alpha * pos - self.beta * neg


class Gamma(LinearRule):
    """Generalised LRP-γ (zennit ≥ 0.5, Andéol et al. 2021). For outputs with z > 0:
    z⁺ = x⁺(W + γW⁺) + (b + γb⁺) + x⁻(W + γW⁻); for outputs with z < 0:
    z⁻ = x⁺(W + γW⁻) + (b + γb⁻) + x⁻(W + γW⁺); outputs with z = 0 pass nothing.
    With non-negative inputs this is the original γ-rule of Montavon et al. 2019."""

    splits_by_sign = True

    def __init__(self, gamma=0.25, stabilizer=1e-6):
        self.gamma, self.stabilizer = gamma, stabilizer

    def linear(self, op, x, z, r, nonneg):
        w, b = op.params()
        g = self.gamma
        wgp, wgn = w + g * _pos(w), w + g * _neg(w)
        bgp, bgn = (None, None) if b is None else (b + g * _pos(b), b + g * _neg(b))
        zero = tf.zeros_like(r)
        rp, rn = tf.where(z > 0, r, zero), tf.where(z < 0, r, zero)
        if nonneg:
            # x ≥ 0: both modified outputs follow from z (the forward output, x·W + b) and one convolution
            # p = x·W⁺: x·(W + γW⁺) = (z − b) + γp and x·(W + γW⁻) = (z − b) + γ((z − b) − p). The
            # subtraction is well conditioned here (|x·W⁻| ≤ |x·W⁺| + |z − b| and it only feeds outputs
            # whose own magnitude is at least |z − b|); the difference to two convolutions is float32 rounding.
            p = op.apply(x, _pos(w))
            zb = z if b is None else op.add_bias(z, -b)
            zp = zb + g * p
            zn = zb + g * (zb - p)
            if b is not None:
                zp, zn = op.add_bias(zp, bgp), op.add_bias(zn, bgn)
            sp = _div(rp, zp, self.stabilizer)
            sn = _div(rn, zn, self.stabilizer)
            return x * (op.vjp(x, wgp, sp) + op.vjp(x, wgn, sn))
        xp, xn = _pos(x), _neg(x)
        sp = _div(rp, op.forward(xp, wgp, bgp) + op.apply(xn, wgn), self.stabilizer)
        sn = _div(rn, op.forward(xp, wgn, bgn) + op.apply(xn, wgp), self.stabilizer)
        return (xp * (op.vjp(x, wgp, sp) + op.vjp(x, wgn, sn))
                + xn * (op.vjp(x, wgn, sp) + op.vjp(x, wgp, sn)))


class ZBox(LinearRule):
    """LRP-z^B for input layers bounded by [low, high] (Montavon et al. 2017), zennit's form:
    z = xW + b − (l·W⁺ + b⁺) − (h·W⁻ + b⁻), R = x ⊙ Wᵀs − l ⊙ W⁺ᵀs − h ⊙ W⁻ᵀs.
    ``low``/``high``: scalars or arrays broadcastable to one example's input shape."""

    def __init__(self, low, high, stabilizer=1e-6):
        self.low, self.high, self.stabilizer = low, high, stabilizer

    def __repr__(self):  # arrays: repr by content so equal boxes share a compiled function
        def show(v):
            return repr(np.asarray(v).tolist())
        return f"ZBox(low={show(self.low)}, high={show(self.high)}, stabilizer={self.stabilizer!r})"

    def linear(self, op, x, z, r, nonneg):
        w, b = op.params()
        wp, wn = _pos(w), _neg(w)
        bp, bn = (None, None) if b is None else (_pos(b), _neg(b))
        # The bounds are the same for every example: evaluate their maps on a batch of one and broadcast.
        one = tf.concat([[1], tf.shape(x)[1:]], 0)
        low = tf.broadcast_to(tf.cast(self.low, x.dtype), one)
        high = tf.broadcast_to(tf.cast(self.high, x.dtype), one)
        zb = op.forward(x, w, b) - op.forward(low, wp, bp) - op.forward(high, wn, bn)
        s = _div(r, zb, self.stabilizer)
        return x * op.vjp(x, w, s) - low * op.vjp(x, wp, s) - high * op.vjp(x, wn, s)


class WSquare(LinearRule):
    """LRP-w² (Montavon et al. 2017), zennit's form: ones as input, every parameter squared (the bias
    too, as zennit's ``ParamMod`` does): R = W²ᵀ (R_out / stabilize(1·W² + b²))."""

    def __init__(self, stabilizer=1e-6):
        self.stabilizer = stabilizer

    def linear(self, op, x, z, r, nonneg):
        w, b = op.params()
        ones = tf.ones_like(x)
        w2 = tf.square(w)
        s = _div(r, op.forward(ones, w2, None if b is None else tf.square(b)), self.stabilizer)
        return op.vjp(ones, w2, s)


class Flat(LinearRule):
    """LRP-flat (Lapuschkin et al. 2019): like w² with all weights 1 and no bias: each output's
    relevance is spread uniformly over its receptive field."""

    def __init__(self, stabilizer=1e-6):
        self.stabilizer = stabilizer

    def linear(self, op, x, z, r, nonneg):
        w, _ = op.params()
        ones, w1 = tf.ones_like(x), tf.ones_like(w)
        s = _div(r, op.forward(ones, w1, None), self.stabilizer)
        return op.vjp(ones, w1, s)


class Pass(Rule):
    """Pass the output relevance unchanged to the input (activations, dropout, unfolded BatchNorm)."""

    def propagate(self, step, xs, zs, rs, ctx):
        if len(xs) != 1 or len(rs) < 1 or xs[0].shape.rank != rs[0].shape.rank:
            raise LRPError(no_rule_message(step.layer, "cannot use Pass: its output is not shaped like its input"))
        return [tf.reshape(rs[0], tf.shape(xs[0]))]


class Norm(Rule):
    """Spread relevance in proportion to each input's share of the layer's own output (zennit's Norm):
    R_in = x ⊙ ∂(layer(x)·s)/∂x with s = R_out / stabilize(layer(x)). Used for average pooling and Add."""

    def __init__(self, stabilizer=1e-6):
        self.stabilizer = stabilizer

    def propagate(self, step, xs, zs, rs, ctx):
        if step.op is not None:
            w, _ = step.op.params()
            return [xs[0] * step.op.vjp(xs[0], w, _div(rs[0], zs[0], self.stabilizer))]
        s = [_div(r, z, self.stabilizer) for r, z in zip(rs, zs)]
        grads = step.vjp(xs, s)
        return [None if g is None else x * g for x, g in zip(xs, grads)]  # integer inputs (indices) take none


class Product(Rule):
    """Products of tensors (``Multiply``, Keras-ops multiply/divide/matmul/einsum) and their gates.

    Factors marked as gates (``step.gates``: a sigmoid-like output, as in squeeze-and-excitation,
    hard-swish, gated linear units, or a divisor) take no relevance and the signal takes all of it
    (signal-take-all, as for LSTM gates, Arras et al. 2017). The n ≥ 2 factors that remain share it by
    AttnLRP's uniform rule (Achtibat et al. 2024): R_i = x_i ⊙ ∂(z·s)/∂x_i with s = R / stabilize(n·z),
    which is R/n each for an element-wise product and the ε-rule on n·z for a matmul. Constants take none.
    ``epsilon=None`` uses the composite's ε.
    """

    def __init__(self, epsilon=None):
        self.epsilon = epsilon

    def propagate(self, step, xs, zs, rs, ctx):
        eps = ctx.epsilon if self.epsilon is None else self.epsilon
        floats = [x.dtype.is_floating for x in xs]
        gates = getattr(step, "gates", None) or [False] * len(xs)
        signals = [f and not g for f, g in zip(floats, gates)]
        if not any(signals):  # only gates (e.g. sigmoid · sigmoid): they share as signals would
            signals = floats
        n = sum(signals)
        s = _div(rs[0], n * zs[0], eps)
        grads = step.vjp(xs, [s] + [None] * (len(zs) - 1))
        return [x * g if sig else None for x, g, sig in zip(xs, grads, signals)]


class GatedHalf(Rule):
    """``ops.glu``: the output is a ⊙ sigmoid(b) for the two halves of the input along ``axis``; the signal
    half a takes all the relevance (R·z/stabilize(z), the gate held constant) and the gate half none."""

    def __init__(self, epsilon=None):
        self.epsilon = epsilon

    def propagate(self, step, xs, zs, rs, ctx):
        eps = ctx.epsilon if self.epsilon is None else self.epsilon
        axis = getattr(step.layer, "axis", -1)
        r = rs[0] * zs[0] / stabilize(zs[0], eps)
        return [tf.concat([r, tf.zeros_like(r)], axis=axis)]


class Indices(Rule):
    """Steps that compute integers or booleans (positions, masks): nothing to propagate."""

    def propagate(self, step, xs, zs, rs, ctx):
        return [None] * len(xs)


class Route(Rule):
    """Relevance follows the gradient of layers that only move or select values (max pooling: to the
    winner; Flatten, Reshape, Permute, padding, cropping, Concatenate: to where each value came from).
    Not a zennit rule: zennit leaves these layers to autograd, which is the same thing."""

    def propagate(self, step, xs, zs, rs, ctx):
        return step.vjp(xs, rs)


class EmbeddingSum(Rule):
    """Per-token relevance of an Embedding: the sum over the embedding axis (an integer token id
    cannot carry relevance per dimension), so the model input gets relevance shaped like the ids."""

    def propagate(self, step, xs, zs, rs, ctx):
        return [tf.reduce_sum(rs[0], axis=-1)]


class RecurrentEpsilon(Rule):
    """LSTM/GRU by Arras et al. 2017: signal-take-all through the multiplicative gates, ε on the linear
    maps. ``epsilon=None`` uses the composite's ε. Implemented in :mod:`tb_nnvis.core.lrp.recurrent`.

    A ``Bidirectional`` wrapper is explained as its two layers: with ``merge_mode="concat"`` each half
    of the output relevance goes to its own direction; with ``"sum"`` the ε-rule splits it in
    proportion to each direction's output.
    """

    def __init__(self, epsilon=None):
        self.epsilon = epsilon

    def propagate(self, step, xs, zs, rs, ctx):
        import keras

        eps = ctx.epsilon if self.epsilon is None else self.epsilon
        layer = step.layer
        if isinstance(layer, keras.layers.Bidirectional):
            out = self._bidirectional(layer, xs[0], rs[0], eps)
        else:
            out = _recurrent_fn(layer)(layer, xs[0], rs[0], epsilon=eps)
        return [out] + [None] * (len(xs) - 1)

    @staticmethod
    def _bidirectional(layer, x, r, eps):
        from . import recurrent

        fwd, bwd = layer.forward_layer, layer.backward_layer
        seq = fwd.return_sequences
        if layer.merge_mode == "concat":
            units = fwd.units
            r_f, r_b = r[..., :units], r[..., units:]
        elif layer.merge_mode == "sum":
            y_f = recurrent.recurrent_forward(fwd, x)
            y_b = recurrent.recurrent_forward(bwd, x)
            if not seq:
                y_f, y_b = y_f[:, -1], y_b[:, -1]
            else:
                y_b = tf.reverse(y_b, [1])  # the wrapper returns the backward sequence in input order
            share = _div(r, y_f + y_b, eps)
            r_f, r_b = y_f * share, y_b * share
        else:
            raise LRPError(no_rule_message(layer, f"merges its directions by {layer.merge_mode!r}; only "
                                                  f"'concat' and 'sum' have an LRP rule"))
        if seq:  # back to the backward layer's own (processing) order
            r_b = tf.reverse(r_b, [1])
        return (_recurrent_fn(fwd)(fwd, x, r_f, epsilon=eps) + _recurrent_fn(bwd)(bwd, x, r_b, epsilon=eps))


def _recurrent_fn(layer):
    import keras

    from . import recurrent  # lazy: only recurrent models need it

    if isinstance(layer, keras.layers.LSTM):
        return recurrent.lstm_relevance
    if isinstance(layer, keras.layers.GRU):
        return recurrent.gru_relevance
    raise LRPError(no_rule_message(layer, "is not an LSTM or GRU, so RecurrentEpsilon cannot apply"))

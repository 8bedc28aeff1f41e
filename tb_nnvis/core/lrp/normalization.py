"""LayerNormalization and RMS normalisation as AttnLRP/LXT explain them (Achtibat et al. 2024).

The standard deviation (or root mean square) is a function of the input, but holding it constant
leaves a linear map of the input: x ↦ γ(x − mean(x))/σ + β (LayerNorm) or x ↦ γx/rms (RMS). The
ε-rule on that map moves relevance between the features of one token through the mean subtraction;
β absorbs relevance like a bias. (LXT writes the same as the ε-rule on x − mean followed by the
identity on the division by σ; both give R_i = x_i Σ_j ∂z_j/∂x_i · R_j / (y_j + ε·sign y_j).)
"""
import keras
import tensorflow as tf

from .errors import LRPError, no_rule_message
from .rules import Rule, _div


def _axes(axis, rank):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(a % rank for a in axes)


def frozen_layernorm(layer, x):
    """(linear part with σ constant, bias or None) of a keras LayerNormalization on ``x``.

    The linear part is a function of x whose gradient is the map's transpose; the bias is β.

    Example:
        >>> import keras, numpy as np
        >>> ln = keras.layers.LayerNormalization(); x = np.random.rand(2, 5).astype("float32")
        >>> lin, b = frozen_layernorm(ln, x)
        >>> np.allclose(lin(x) + b, ln(x), atol=1e-5)
        True
    """
    if not layer.built:
        layer.build(x.shape)
    rank = len(x.shape)
    axes = _axes(layer.axis, rank)
    shape = [x.shape[a] if a in axes else 1 for a in range(rank)]
    var = tf.stop_gradient(tf.math.reduce_variance(x, axis=axes, keepdims=True))
    inv = tf.math.rsqrt(var + layer.epsilon)
    gamma = None if layer.gamma is None else tf.reshape(tf.cast(layer.gamma, x.dtype), shape)
    beta = None if layer.beta is None else tf.reshape(tf.cast(layer.beta, x.dtype), shape)
    if layer.rms_scaling:  # Keras' (deprecated) rms_scaling: x / σ without centring
        def lin(t):
            out = t * inv
            return out if gamma is None else out * gamma
        return lin, beta

    def lin(t):
        out = (t - tf.reduce_mean(t, axis=axes, keepdims=True)) * inv
        return out if gamma is None else out * gamma
    return lin, beta


def frozen_rmsnorm(layer, x):
    """(linear part with the root mean square constant, None) of a keras RMSNormalization on ``x``."""
    if not layer.built:
        layer.build(x.shape)
    rank = len(x.shape)
    axes = _axes(layer.axis, rank)
    eps = layer.epsilon if layer.epsilon is not None else keras.config.epsilon()
    ms = tf.stop_gradient(tf.reduce_mean(tf.square(x), axis=axes, keepdims=True))
    inv = tf.math.rsqrt(ms + eps)
    scale = getattr(layer, "scale", None)
    shape = [x.shape[a] if a in axes else 1 for a in range(rank)]

    def lin(t):
        out = t * inv
        return out if scale is None or isinstance(scale, bool) else out * tf.reshape(tf.cast(scale, x.dtype), shape)
    return lin, None


def _frozen(layer):
    if isinstance(layer, keras.layers.LayerNormalization):
        return frozen_layernorm
    if hasattr(keras.layers, "RMSNormalization") and isinstance(layer, keras.layers.RMSNormalization):
        return frozen_rmsnorm
    raise LRPError(no_rule_message(layer, "is not a LayerNormalization or RMSNormalization, so LayerNormEpsilon "
                                          "cannot apply to it"))


class LayerNormEpsilon(Rule):
    """AttnLRP's rule for LayerNormalization/RMSNormalization: σ held constant, ε-rule on the linear map
    that remains, R_in = x ⊙ Jᵀ(R / stabilize(y)). ``epsilon=None`` uses the composite's ε.

    Example:
        >>> import numpy as np, keras
        >>> from tb_nnvis.lrp import attribute, Composite, LayerNormEpsilon
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.LayerNormalization(), keras.layers.Dense(2)])
        >>> attribute(m, np.random.rand(1, 4).astype("float32"), composite="epsilon").shape
        (1, 4)
    """

    def __init__(self, epsilon=None):
        self.epsilon = epsilon

    def propagate(self, step, xs, zs, rs, ctx):
        eps = ctx.epsilon if self.epsilon is None else self.epsilon
        x = xs[0]
        lin, bias = _frozen(step.layer)(step.layer, x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = lin(x)
        y = z if bias is None else z + bias
        return [x * tape.gradient(z, x, output_gradients=_div(rs[0], y, eps))]

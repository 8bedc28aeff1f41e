"""LRP on the pieces of today's image models: Keras-ops nodes, preprocessing, gates, LayerNorm/RMSNorm,
and keras.applications models (EfficientNet, MobileNetV3) with no layer_map.

Each rule is checked against a float64 computation written here from the rule's definition (never the
engine), or against gradient×input where LRP-0 must equal it (linear moves and sums).
"""
import keras
import numpy as np
import pytest

from tb_nnvis.lrp import Composite, Epsilon, LRPError, attribute
from tests.core.test_lrp_engine import grad_x_input

L = keras.layers
ops = keras.ops
RNG = np.random.default_rng(7)


def stab(z, eps=1e-6):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def w64(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def eps_dense(x, W, b, R, eps=1e-6):
    """ε-rule through y = xW + b (float64, contribution form)."""
    C = x[:, :, None] * W[None]  # [B, in, out]
    z = C.sum(1) + b
    return (C * (R / stab(z, eps))[:, None, :]).sum(2)


def start(logits, target):
    R = np.zeros_like(logits)
    R[np.arange(len(logits)), target] = logits[np.arange(len(logits)), target]
    return R


def lrp0():
    return Composite.preset("epsilon", epsilon=0.0, stabilizer=0.0)


def test_keras_ops_moves_and_sums_give_lrp0_equal_to_gradient_times_input():
    """Reshape, transpose, slicing, concatenation, mean, expand_dims, add/subtract of tensors and scaling
    by constants are linear: LRP-0 through them must equal gradient×input exactly."""
    x = keras.Input((4, 6))
    a = L.Dense(6, use_bias=False)(x)
    b = ops.transpose(ops.reshape(a, (-1, 6, 4)), (0, 2, 1))  # [B, 4, 6], mixed order
    c = ops.concatenate([a[:, :2] - b[:, 1:3], ops.expand_dims(ops.mean(a, axis=1), 1)], axis=1)
    d = ops.multiply(c, 0.5) / 2.0 + ops.sum(b[:, 3:], axis=1, keepdims=True)
    y = L.Dense(3, use_bias=False)(L.Flatten()(L.ReLU()(d)))
    m = keras.Model(x, y)
    xs = RNG.normal(size=(4, 4, 6)).astype("float32")
    r = attribute(m, xs, target=1, composite=lrp0())
    np.testing.assert_allclose(r, grad_x_input(m, xs, 1)[0], rtol=1e-4, atol=1e-5)


def test_constant_added_absorbs_relevance_like_a_bias():
    x = keras.Input((5,))
    h = L.Dense(5, use_bias=False)(x)
    y = L.Dense(2, use_bias=False)(h + 3.0)
    m = keras.Model(x, y)
    xs = RNG.normal(size=(3, 5)).astype("float32")
    W1, W2 = w64(m.layers[1])[0], w64(m.layers[-1])[0]
    h64 = xs.astype(np.float64) @ W1
    R = start((h64 + 3.0) @ W2, np.zeros(3, int))
    Rh = eps_dense(h64 + 3.0, W2, 0.0, R)
    Rh = h64 / stab(h64 + 3.0) * Rh  # x + c: ε-rule, the constant takes its share and drops it
    ref = eps_dense(xs.astype(np.float64), W1, 0.0, Rh)
    np.testing.assert_allclose(attribute(m, xs, target=0, composite="epsilon"), ref, rtol=1e-4, atol=1e-6)


def _se_model(gate):
    """Squeeze-and-excitation as EfficientNet (sigmoid) and MobileNetV3 (relu6(x + 3) / 6) write it."""
    keras.utils.set_random_seed(1)
    x = keras.Input((6, 6, 4))
    h = L.Conv2D(4, 3, padding="same", activation="swish")(x)
    s = L.Reshape((1, 1, 4))(L.GlobalAveragePooling2D()(h))
    s = L.Conv2D(2, 1, activation="relu")(s)
    if gate == "sigmoid":
        s = L.Conv2D(4, 1, activation="sigmoid")(s)
    else:
        s = L.ReLU(6.0)(L.Conv2D(4, 1)(s) + 3.0) * (1.0 / 6.0)
    g = L.Multiply()([h, s])
    y = L.Dense(3)(L.GlobalAveragePooling2D()(g))
    return keras.Model(x, y)


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_gate_takes_no_relevance_and_signal_takes_all(gate):
    """The squeeze-and-excitation branch gets nothing; relevance equals that of the same model with the
    gate frozen to a constant (the replica: ε through the head, all of R_g to h, ε through the conv)."""
    m = _se_model(gate)
    xs = np.random.default_rng(1).normal(size=(2, 6, 6, 4)).astype("float32")
    conv, dense = m.layers[1], m.layers[-1]
    pre = keras.Model(m.inputs, [conv.output, m.layers[-3].output])  # h and the gated product g
    h, g = (np.asarray(t, np.float64) for t in pre(xs))
    W, b = w64(dense)
    pooled = g.mean((1, 2))
    R = start(pooled @ W + b, np.array([2, 0]))
    Rp = eps_dense(pooled, W, b, R)
    Rg = g / 36.0 / stab(pooled)[:, None, None, :] * Rp[:, None, None, :]  # average pooling: Norm
    Rh = g / stab(g) * Rg  # h·s with s a gate: ε on the product, all of it to h
    # ε through the 3×3 convolution, as a dense matrix read from unit vectors.
    Wc, bc = w64(conv)
    lin = L.Conv2D(4, 3, padding="same", use_bias=False)
    lin.build((None, 6, 6, 4))
    lin.set_weights([Wc.astype("float32")])
    M = np.asarray(lin(np.eye(144, dtype="float32").reshape(144, 6, 6, 4))).reshape(144, -1).T.astype(np.float64)
    zc = xs.reshape(2, -1) @ M.T + np.tile(bc, 36)
    ref = (xs.reshape(2, 1, -1) * M[None] * (Rh.reshape(2, -1) / stab(zc))[:, :, None]).sum(1)
    r = attribute(m, xs, target=[2, 0], composite="epsilon")
    np.testing.assert_allclose(r.reshape(2, -1), ref, rtol=2e-3, atol=2e-5 * np.abs(ref).max())


def test_product_of_two_signals_splits_uniformly():
    x = keras.Input((5,))
    a, b = L.Dense(4, use_bias=False)(x), L.Dense(4, use_bias=False)(x)
    m = keras.Model(x, L.Dense(2, use_bias=False)(L.Multiply()([a, b])))
    xs = RNG.normal(size=(3, 5)).astype("float32")
    Wa, Wb, Wo = (w64(m.layers[i])[0] for i in (1, 2, 4))
    x64 = xs.astype(np.float64)
    va, vb = x64 @ Wa, x64 @ Wb
    p = va * vb
    Rp = eps_dense(p, Wo, 0.0, start(p @ Wo, np.ones(3, int)))
    half = p / stab(2 * p) * Rp  # uniform rule: R/2 to each factor (ε on 2z)
    ref = eps_dense(x64, Wa, 0.0, half) + eps_dense(x64, Wb, 0.0, half)
    r = attribute(m, xs, target=1, composite="epsilon")
    np.testing.assert_allclose(r, ref, rtol=1e-4, atol=1e-6)
    logit = (p @ Wo)[:, 1]
    np.testing.assert_allclose(r.sum(1), logit, rtol=1e-5, atol=1e-5 * np.abs(logit).max())  # bias-free: conserves


def test_preprocessing_layers_and_layer_scale_pass_relevance_unchanged():
    from keras.src.applications.convnext import LayerScale

    x = keras.Input((5,))
    h = L.Normalization(mean=[1.0] * 5, variance=[4.0] * 5)(L.Rescaling(1 / 255.0)(x))
    h = LayerScale(0.5, 5)(h)  # ConvNeXt's per-channel scaling by a learned constant
    m = keras.Model(x, L.Dense(2, use_bias=False)(h))
    xs = RNG.uniform(0, 255, (2, 5)).astype("float32")
    h64 = 0.5 * (xs.astype(np.float64) / 255.0 - 1.0) / 2.0
    W = w64(m.layers[-1])[0]
    ref = eps_dense(h64, W, 0.0, start(h64 @ W, np.zeros(2, int)))
    np.testing.assert_allclose(attribute(m, xs, target=0, composite="epsilon"), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["layernorm", "layernorm_2d", "rms"])
def test_layernorm_and_rms_hold_sigma_constant_under_epsilon(kind):
    """Replica: y = γ(x − mean)/σ + β with σ constant is linear, J = diag(γ)(I − 1/N)/σ; ε-rule on it."""
    n = 6
    shape = (3, n) if kind == "layernorm_2d" else (n,)
    x = keras.Input(shape)
    norm = L.RMSNormalization() if kind == "rms" else L.LayerNormalization(epsilon=1e-3)
    h = norm(x)
    m = keras.Model(x, L.Dense(2)(L.Flatten()(h)))
    m.layers[1].set_weights([RNG.normal(size=w.shape).astype("float32") for w in m.layers[1].get_weights()])
    xs = RNG.normal(size=(2,) + shape).astype("float32")
    x64 = xs.reshape(-1, n).astype(np.float64)  # one token per row
    if kind == "rms":
        (g,), beta = w64(norm), np.zeros(n)
        sigma = np.sqrt((x64 ** 2).mean(1, keepdims=True) + keras.config.epsilon())
        J = np.eye(n)[None] * (g / sigma)[:, None, :]  # J[t, i, j] = ∂y_j/∂x_i
    else:
        g, beta = w64(norm)
        sigma = np.sqrt(x64.var(1, keepdims=True) + 1e-3)
        J = (np.eye(n) - 1.0 / n)[None] * (g[None, None, :] / sigma[:, :, None])
    y64 = np.einsum("ti,tij->tj", x64, J) + beta
    W, b = w64(m.layers[-1])
    flat = y64.reshape(2, -1)
    Ry = eps_dense(flat, W, b, start(flat @ W + b, np.array([0, 1]))).reshape(-1, n)
    ref = x64 * np.einsum("tij,tj->ti", J, Ry / stab(y64))
    r = attribute(m, xs, target=[0, 1], composite="epsilon")
    np.testing.assert_allclose(r.reshape(-1, n), ref, rtol=1e-3, atol=1e-5 * np.abs(ref).max())


def test_integer_position_branch_takes_no_rule_and_no_relevance():
    """Positions computed from the ids by Keras ops (integers) need no rule; the position embedding
    absorbs its share as a constant would."""
    ids = keras.Input((5,), dtype="int32")
    pos = ops.cumsum(ops.ones_like(ids), axis=1) - 1
    h = L.Embedding(9, 4)(ids) + L.Embedding(5, 4)(pos)
    m = keras.Model(ids, L.Dense(2)(L.Flatten()(h)))
    r = attribute(m, RNG.integers(0, 9, (2, 5)).astype("int32"), composite="epsilon")
    assert r.shape == (2, 5) and np.isfinite(r).all() and np.abs(r).sum() > 0


def test_unsupported_op_names_itself_and_the_fix():
    x = keras.Input((4,))
    m = keras.Model(x, L.Dense(2)(ops.exp(L.Dense(4)(x))))
    with pytest.raises(LRPError, match=r"(?s)keras.src.ops.numpy.Exp\) 'exp' \(Exp\).*layer_map"):
        attribute(m, np.ones((1, 4), "float32"))
    from keras.src.ops.numpy import Exp

    from tb_nnvis.lrp import Pass
    assert attribute(m, np.ones((1, 4), "float32"), layer_map={Exp: Pass()}).shape == (1, 4)


def _calibrate_batchnorm(model, x):
    """Moving statistics from one batch of 16, so an untrained application model has logits far above ε."""
    bns = [layer for layer in model._flatten_layers() if isinstance(layer, L.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    model(RNG.uniform(0, 255, (16,) + x.shape[1:]).astype("float32"), training=True)


def _application(name):
    keras.utils.set_random_seed(0)
    m = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10,
                                          classifier_activation=None)
    x = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    _calibrate_batchnorm(m, x)
    return m, x


@pytest.fixture(scope="module")
def efficientnet():
    return _application("EfficientNetB0")


@pytest.fixture(scope="module")
def mobilenet_v3():
    return _application("MobileNetV3Small")


def test_efficientnet_b0_explains_without_layer_map(efficientnet):
    m, x = efficientnet
    r = attribute(m, x, target=3, composite="epsilon")
    logit = np.asarray(m(x))[:, 3]
    assert r.shape == x.shape and np.isfinite(r).all()
    assert np.abs(r).reshape(2, -1).sum(1).min() > 1e-3 * np.abs(logit).min()


def test_mobilenet_v3_small_explains_without_layer_map(mobilenet_v3):
    m, x = mobilenet_v3
    r = attribute(m, x, target=3, composite="epsilon_plus")
    assert r.shape == x.shape and np.isfinite(r).all() and np.abs(r).sum() > 0


def test_sign_split_rule_sees_relu_plus_negative_constant_as_signed():
    """relu(x) + (−0.5) can be negative: z⁺ after it must keep its x⁻ terms (a sum with a constant does
    not keep the sign the way a sum of non-negative tensors does)."""
    from tb_nnvis.lrp import ZPlus

    x = keras.Input((6,))
    first = L.Dense(6, activation="relu", name="first")
    last = L.Dense(2, use_bias=False, name="last")
    m = keras.Model(x, last(first(x) + (-0.5)))
    xs = RNG.normal(size=(3, 6)).astype("float32")
    (W1, b1), (W2,) = w64(first), w64(last)
    h = np.maximum(xs.astype(np.float64) @ W1 + b1, 0)
    u = h - 0.5
    logits = u @ W2
    C = u[:, :, None] * W2[None]
    pos = np.maximum(C, 0)
    Ru = (pos * (start(logits, np.zeros(3, int)) / stab(pos.sum(1)))[:, None, :]).sum(2)
    Rh = h / stab(u) * Ru  # x + c: ε on the sum, the constant's share dropped
    ref = eps_dense(xs.astype(np.float64), W1, b1, Rh)
    r = attribute(m, xs, target=0, composite=Composite(name_map={"last": ZPlus(), "first": Epsilon()}))
    np.testing.assert_allclose(r, ref, rtol=1e-4, atol=1e-6)


def test_glu_gives_the_signal_half_everything_and_the_gate_half_nothing():
    x = keras.Input((4,))
    first = L.Dense(6, use_bias=False)
    last = L.Dense(2, use_bias=False)
    m = keras.Model(x, last(ops.glu(first(x))))
    xs = RNG.normal(size=(3, 4)).astype("float32")
    W1, W2 = w64(first)[0], w64(last)[0]
    z = xs.astype(np.float64) @ W1
    a, gate = z[:, :3], 1 / (1 + np.exp(-z[:, 3:]))
    y = a * gate
    Ry = eps_dense(y, W2, 0.0, start(y @ W2, np.ones(3, int)))
    Rz = np.concatenate([y / stab(y) * Ry, np.zeros_like(Ry)], axis=1)
    ref = eps_dense(xs.astype(np.float64), W1, 0.0, Rz)
    np.testing.assert_allclose(attribute(m, xs, target=1, composite="epsilon"), ref, rtol=1e-4, atol=1e-6)

"""Each LRP rule against a float64 replica written here, on Dense and every convolution kind.

The replica never calls the engine: it reads each layer as a dense matrix M (out × in) by feeding
unit vectors through a bias-free copy of the layer, then applies the rule in its published,
contribution-wise form (zennit's definitions): e.g. z⁺ keeps the positive contributions
(x_i·w_ji)⁺, γ adds γ·(x_i·w_ji)^± to the contribution, z^B subtracts l_i·w_ji⁺ + h_i·w_ji⁻.
"""
import keras
import numpy as np
import pytest

from tb_nnvis.lrp import AlphaBeta, Composite, Epsilon, Flat, Gamma, Norm, WSquare, ZBox, ZPlus, attribute

L = keras.layers


def stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def ref_rule(name, M, b, x, R, low=-1.0, high=1.0):
    """Relevance of the input of y = M x + b for output relevance R, float64, contribution form."""
    x = x.astype(np.float64)
    C = M * x[None, :]  # C[j, i] = x_i · w_ji
    pos, neg = np.maximum(C, 0), np.minimum(C, 0)
    if name == "epsilon":
        z = C.sum(1) + b
        return (C * (R / stab(z, 1e-6))[:, None]).sum(0)
    if name == "epsilon_big":
        z = C.sum(1) + b
        return (C * (R / stab(z, 0.25))[:, None]).sum(0)
    if name == "zplus":
        z = pos.sum(1) + np.maximum(b, 0)
        return (pos * (R / stab(z, 1e-6))[:, None]).sum(0)
    if name in ("alpha2beta1", "alpha1beta0"):
        a, bt = (2.0, 1.0) if name == "alpha2beta1" else (1.0, 0.0)
        zp = pos.sum(1) + np.maximum(b, 0)
        zn = neg.sum(1) + np.minimum(b, 0)
        return (a * pos * (R / stab(zp, 1e-6))[:, None] - bt * neg * (R / stab(zn, 1e-6))[:, None]).sum(0)
    if name == "gamma":
        g = 0.25
        z = C.sum(1) + b
        cp, cn = C + g * pos, C + g * neg
        zp = cp.sum(1) + b + g * np.maximum(b, 0)
        zn = cn.sum(1) + b + g * np.minimum(b, 0)
        rp = np.where(z > 0, R / stab(zp, 1e-6), 0.0)
        rn = np.where(z < 0, R / stab(zn, 1e-6), 0.0)
        return (cp * rp[:, None] + cn * rn[:, None]).sum(0)
    if name == "zbox":
        lo, hi = np.full_like(x, low), np.full_like(x, high)
        C = M * x[None, :] - np.maximum(M, 0) * lo[None, :] - np.minimum(M, 0) * hi[None, :]
        return (C * (R / stab(C.sum(1), 1e-6))[:, None]).sum(0)
    if name == "flat":
        C = (M != 0).astype(np.float64)
        return (C * (R / stab(C.sum(1), 1e-6))[:, None]).sum(0)
    if name == "wsquare":
        C = M ** 2
        return (C * (R / stab(C.sum(1) + b ** 2, 1e-6))[:, None]).sum(0)
    if name == "norm":
        z = C.sum(1) + b
        return (C * (R / stab(z, 1e-6))[:, None]).sum(0)
    raise KeyError(name)


RULES = {
    "epsilon": Epsilon(), "epsilon_big": Epsilon(0.25), "zplus": ZPlus(), "alpha2beta1": AlphaBeta(2, 1),
    "alpha1beta0": AlphaBeta(1, 0), "gamma": Gamma(0.25), "zbox": ZBox(-1.0, 1.0), "flat": Flat(),
    "wsquare": WSquare(), "norm": Norm(),
}

# (builder(use_bias), input shape) — small shapes, strides/padding/dilation that make the maps non-trivial.
LAYERS = {
    "dense": (lambda ub: L.Dense(5, use_bias=ub), (6,)),
    "conv1d": (lambda ub: L.Conv1D(3, 3, strides=2, padding="same", use_bias=ub), (7, 2)),
    "conv2d": (lambda ub: L.Conv2D(3, 3, padding="valid", dilation_rate=1, use_bias=ub), (5, 5, 2)),
    "conv2d_strided": (lambda ub: L.Conv2D(2, 2, strides=2, padding="same", use_bias=ub), (5, 5, 2)),
    "conv3d": (lambda ub: L.Conv3D(2, 2, use_bias=ub), (3, 3, 3, 2)),
    "conv2d_transpose": (lambda ub: L.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=ub), (3, 3, 2)),
    "depthwise2d": (lambda ub: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=ub), (4, 4, 2)),
    "separable2d": (lambda ub: L.SeparableConv2D(3, 3, depth_multiplier=2, use_bias=ub), (5, 5, 2)),
}


def matrix_of(layer, in_shape):
    """(M, b) of a built layer in float64: unit vectors through a bias-free clone, bias read directly."""
    n = int(np.prod(in_shape))
    cfg = layer.get_config()
    cfg.update(use_bias=False, name=None)
    clone = type(layer).from_config(cfg)
    clone.build((None,) + in_shape)
    clone.set_weights(layer.get_weights()[: len(clone.get_weights())])
    basis = np.eye(n, dtype=np.float32).reshape((n,) + in_shape)
    M = np.asarray(clone(basis)).reshape(n, -1).T.astype(np.float64)
    out_ch = M.shape[0]
    if layer.use_bias:
        bias = np.asarray(layer.bias, np.float64)
        b = np.tile(bias, out_ch // bias.size)  # channels_last: channel is the fastest axis
    else:
        b = np.zeros(out_ch)
    return M, b


def separable_parts(layer, in_shape):
    """A separable convolution as its depthwise and 1×1 pointwise convolutions (matrices)."""
    dw = L.DepthwiseConv2D(layer.kernel_size, strides=layer.strides, padding=layer.padding,
                           depth_multiplier=layer.depth_multiplier, dilation_rate=layer.dilation_rate,
                           use_bias=False)
    dw.build((None,) + in_shape)
    dw.set_weights([np.asarray(layer.depthwise_kernel)])
    mid = tuple(dw.compute_output_shape((None,) + in_shape)[1:])
    pw = L.Conv2D(layer.filters, 1, use_bias=layer.use_bias)
    pw.build((None,) + mid)
    pw.set_weights([np.asarray(layer.pointwise_kernel)] + ([np.asarray(layer.bias)] if layer.use_bias else []))
    return (dw, in_shape), (pw, mid)


def random_layer(kind, use_bias, seed):
    build, in_shape = LAYERS[kind]
    layer = build(use_bias)
    layer.build((None,) + in_shape)
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    return layer, in_shape


def reference(rule_name, layer, in_shape, x, targets):
    """Replica relevance for each example: R_out = logit of the target at its position, zero elsewhere."""
    if isinstance(layer, L.SeparableConv2D):
        (dw, s1), (pw, s2) = separable_parts(layer, in_shape)
        chain = [matrix_of(dw, s1), matrix_of(pw, s2)]
    else:
        chain = [matrix_of(layer, in_shape)]
    out = []
    for xe, t in zip(x, targets):
        acts = [xe.reshape(-1).astype(np.float64)]
        for M, b in chain:
            acts.append(M @ acts[-1] + b)
        R = np.zeros_like(acts[-1])
        R[t] = acts[-1][t]
        for (M, b), a in zip(chain[::-1], acts[-2::-1]):
            R = ref_rule(rule_name, M, b, a, R)
        out.append(R.reshape(in_shape))
    return np.stack(out)


def check(rule_name, kinds, relu_first=False, seed=0, per_kind=3):
    """One multi-input model, one branch per layer kind (so one compiled function per rule); each example's
    target lies in one branch, so the relevance of that branch's input is compared with the replica and
    the other inputs must get none."""
    layers = [random_layer(k, ub, seed=seed + i) for i, (k, ub) in enumerate(kinds)]
    inputs = [keras.Input(shape) for _, shape in layers]
    outs = [L.Flatten()(lay(L.ReLU()(i) if relu_first else i)) for (lay, _), i in zip(layers, inputs)]
    model = keras.Model(inputs, L.Concatenate()(outs) if len(outs) > 1 else outs[0])
    sizes = [int(np.prod(o.shape[1:])) for o in outs]
    offsets = np.cumsum([0] + sizes)
    rng = np.random.default_rng(seed + 1)
    n = per_kind * len(kinds)
    xs = [rng.uniform(-1, 1, size=(n,) + shape).astype("float32") for _, shape in layers]
    branch = np.repeat(np.arange(len(kinds)), per_kind)
    local = np.array([rng.integers(0, sizes[k]) for k in branch])
    targets = offsets[branch] + local
    rule = RULES[rule_name]
    comp = Composite(layer_map={tuple(type(lay) for lay, _ in layers): rule})
    rels = attribute(model, xs, target=targets, composite=comp)
    rels = rels if isinstance(rels, list) else [rels]
    for k, ((lay, shape), x, rel) in enumerate(zip(layers, xs, rels)):
        mine = branch == k
        x_ref = np.maximum(x[mine], 0) if relu_first else x[mine]
        ref = reference(rule_name, lay, shape, x_ref, local[mine])
        assert np.abs(ref).max() > 0, kinds[k]
        scale = np.abs(ref).max()
        np.testing.assert_allclose(rel[mine], ref, rtol=1e-4, atol=2e-5 * scale, err_msg=kinds[k])
        np.testing.assert_array_equal(rel[~mine], 0.0, err_msg=kinds[k])


@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_rule_matches_float64_replica_on_every_layer_kind(rule_name):
    """Every layer kind, with and without bias, as branches of one model."""
    check(rule_name, [(k, ub) for k in sorted(LAYERS) for ub in (False, True)])


@pytest.mark.parametrize("rule_name", ["zplus", "alpha2beta1", "gamma"])
def test_nonnegative_shortcut_equals_general_rule(rule_name):
    """After a ReLU the engine drops the x⁻ terms; the result must equal the full sign-split rule."""
    check(rule_name, [(k, True) for k in ["dense", "conv2d", "conv2d_transpose", "separable2d"]], relu_first=True, seed=7)


def test_stabilizer_sign_of_zero_is_plus():
    from tb_nnvis.lrp import stabilize

    z = np.array([-2.0, 0.0, 3.0], np.float32)
    np.testing.assert_allclose(np.asarray(stabilize(z, 0.5)), [-2.5, 0.5, 3.5])


def test_alphabeta_validates_parameters():
    with pytest.raises(ValueError):
        AlphaBeta(2, 2)
    with pytest.raises(ValueError):
        AlphaBeta(-1, -2)


def test_gamma_rule_sends_nothing_through_outputs_that_are_exactly_zero():
    """zennit's γ masks by z > 0 and z < 0: an output with z = 0 passes no relevance."""
    layer = L.Dense(2, use_bias=False)
    layer.build((None, 2))
    layer.set_weights([np.array([[1.0, 1.0], [-1.0, 1.0]], np.float32)])
    inp = keras.Input((2,))
    model = keras.Model(inp, layer(inp))
    x = np.array([[1.0, 1.0]], np.float32)  # z = [0, 2]
    rel = attribute(model, x, target=0, composite=Composite(layer_map={L.Dense: Gamma()}))
    np.testing.assert_array_equal(rel, 0.0)

"""The LRP engine on whole models: LRP-0 = gradient×input, conservation, graph shapes, canonizers, API."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis.lrp import (Composite, Epsilon, Flat, LRPError, Pass, WSquare, ZBox, ZPlus, attribute, explainer)
from tb_nnvis.core.lrp.ops import CONVOLUTION, LINEAR

L = keras.layers
RNG = np.random.default_rng(0)


def logits_of(model, x):
    """Pre-softmax outputs computed by Keras itself (for a final softmax Dense: x·W + b)."""
    return np.asarray(model(x))


def grad_x_input(model, x, target):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
        sel = tf.reduce_sum(y * tf.one_hot(target, y.shape[-1]), axis=-1)
    return (tape.gradient(sel, x) * x).numpy(), sel.numpy()


def vgg_like(bias, inp=(12, 12, 3)):
    return keras.Sequential([
        keras.Input(inp),
        L.Conv2D(6, 3, activation="relu", use_bias=bias),
        L.MaxPooling2D(),
        L.Conv2D(8, 3, padding="same", use_bias=bias),
        L.ReLU(),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(16, activation="relu", use_bias=bias),
        L.Dropout(0.5),
        L.Dense(4, use_bias=bias),
    ])


def randomize(model, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale / np.sqrt(max(1, np.prod(w.shape[:-1]))), size=w.shape)
                       .astype("float32") if w.ndim > 1 else rng.normal(scale=0.3, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


def assert_conserves(rel, logit, rtol=1e-5):
    rel = rel if isinstance(rel, list) else [rel]
    total = sum(r.reshape(len(logit), -1).sum(1).astype(np.float64) for r in rel)
    np.testing.assert_allclose(total, logit, rtol=rtol, atol=rtol * np.abs(logit).max())


def test_lrp0_equals_gradient_times_input_on_relu_maxpool_net():
    model = randomize(vgg_like(bias=True), seed=1)
    x = RNG.uniform(-1, 1, (5, 12, 12, 3)).astype("float32")
    target = np.array([0, 1, 2, 3, 0])
    rel = attribute(model, x, target=target, composite="epsilon", epsilon=0.0)
    gxi, _ = grad_x_input(model, x, target)
    assert np.abs(gxi).max() > 0
    np.testing.assert_allclose(rel, gxi, rtol=1e-4, atol=1e-5 * np.abs(gxi).max())


@pytest.mark.parametrize("composite,kwargs", [
    ("epsilon", {}),
    ("epsilon_plus", {}),
    ("epsilon_plus_flat", {}),
    ("epsilon_gamma_box", {"low": -1.0, "high": 1.0}),
    ("epsilon_plus", {"first_map": {LINEAR: WSquare(1e-9)}}),
])
def test_conservation_on_bias_free_net(composite, kwargs):
    model = randomize(vgg_like(bias=False), seed=2)
    x = RNG.uniform(-1, 1, (4, 12, 12, 3)).astype("float32")
    logits = logits_of(model, x)
    rel = attribute(model, x, composite=composite, epsilon=1e-9, stabilizer=1e-9, **kwargs)
    assert_conserves(rel, logits.max(1))


def _branchy_models():
    """(name, model, input) for each graph shape: all bias-free so every rule used here conserves."""
    out = []
    # Functional nested in Sequential nested in Functional.
    core = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu", use_bias=False)], name="core")
    mid_in = keras.Input((8, 8, 2))
    mid = keras.Model(mid_in, L.MaxPooling2D()(core(mid_in)), name="mid")
    outer = keras.Sequential([keras.Input((8, 8, 2)), mid, L.Flatten(), L.Dense(3, use_bias=False)])
    out.append(("nested", outer, (8, 8, 2)))
    # One Dense called twice.
    i = keras.Input((6,))
    shared = L.Dense(6, use_bias=False, activation="relu")
    out.append(("shared", keras.Model(i, L.Dense(3, use_bias=False)(shared(shared(i)))), (6,)))
    # Residual block.
    i = keras.Input((8, 8, 4))
    h = L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False)(i)
    h = L.Conv2D(4, 3, padding="same", use_bias=False)(h)
    h = L.ReLU()(L.Add()([h, i]))
    out.append(("residual", keras.Model(i, L.Dense(3, use_bias=False)(L.GlobalAveragePooling2D()(h))), (8, 8, 4)))
    # Inception-style branches.
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(2, 1, activation="relu", use_bias=False)(i)
    b = L.Conv2D(3, 3, padding="same", activation="relu", use_bias=False)(i)
    c = L.Conv2D(2, 1, activation="relu", use_bias=False)(L.MaxPooling2D(3, 1, padding="same")(i))
    h = L.Concatenate()([a, b, c])
    out.append(("inception", keras.Model(i, L.Dense(3, use_bias=False)(L.GlobalMaxPooling2D()(h))), (8, 8, 3)))
    # Structural layers: padding, cropping, permute, reshape, average pooling, leaky relu.
    i = keras.Input((8, 8, 2))
    h = L.ZeroPadding2D(1)(i)
    h = L.Conv2D(3, 3, use_bias=False)(h)
    h = L.LeakyReLU(0.1)(h)
    h = L.Cropping2D(1)(h)
    h = L.AveragePooling2D(2)(h)
    h = L.Permute((2, 1, 3))(h)
    h = L.Reshape((-1,))(h)
    out.append(("structural", keras.Model(i, L.Dense(3, use_bias=False)(h)), (8, 8, 2)))
    # Conv1D / Conv3D / transposed / depthwise / separable in one chain.
    i = keras.Input((6, 6, 2))
    h = L.SeparableConv2D(3, 3, padding="same", activation="relu", use_bias=False)(i)
    h = L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu", use_bias=False)(h)
    h = L.Conv2DTranspose(2, 3, strides=2, activation="relu", use_bias=False)(h)
    h = L.Reshape((9, 9, 2, 1))(h)
    h = L.Conv3D(2, 2, activation="relu", use_bias=False)(h)
    h = L.Reshape((8 * 8, 1 * 2))(h)
    h = L.Conv1D(2, 3, activation="relu", use_bias=False)(h)
    out.append(("conv_kinds", keras.Model(i, L.Dense(3, use_bias=False)(L.Flatten()(h))), (6, 6, 2)))
    return out


@pytest.mark.parametrize("name", ["nested", "shared", "residual", "inception", "structural", "conv_kinds"])
def test_graph_shapes_run_and_conserve(name):
    model, shape = {n: (m, s) for n, m, s in _branchy_models()}[name]
    randomize(model, seed=4)
    x = RNG.uniform(-1, 1, (3,) + shape).astype("float32")
    rel = attribute(model, x, composite="epsilon_plus", epsilon=1e-9, stabilizer=1e-9)
    assert rel.shape == x.shape
    assert np.abs(rel).sum() > 0
    assert_conserves(rel, logits_of(model, x).max(1))


def test_nested_model_equals_its_flat_twin():
    inner = keras.Sequential([keras.Input((5,)), L.Dense(7, activation="relu"), L.Dense(4, activation="relu")])
    i = keras.Input((5,))
    nested = keras.Model(i, L.Dense(3)(inner(i)))
    randomize(nested, seed=5)
    flat = keras.Sequential([keras.Input((5,))] + inner.layers + [nested.layers[-1]])
    x = RNG.normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(attribute(nested, x, composite="epsilon"), attribute(flat, x, composite="epsilon"),
                               rtol=1e-6, atol=1e-7)


def test_shared_layer_equals_two_copies():
    i = keras.Input((4,))
    d = L.Dense(4, activation="relu")
    head = L.Dense(2)
    shared = randomize(keras.Model(i, head(d(d(i)))), seed=6)
    d1, d2 = L.Dense(4, activation="relu"), L.Dense(4, activation="relu")
    j = keras.Input((4,))
    twin = keras.Model(j, head(d2(d1(j))))
    d1.set_weights(d.get_weights())
    d2.set_weights(d.get_weights())
    x = RNG.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(attribute(shared, x, composite="epsilon"), attribute(twin, x, composite="epsilon"),
                               rtol=1e-6, atol=1e-7)


def test_multi_input_model_returns_a_list_that_conserves():
    a, b = keras.Input((4,)), keras.Input((3, 3, 1))
    h = L.Concatenate()([L.Dense(5, activation="relu", use_bias=False)(a),
                         L.Flatten()(L.Conv2D(2, 2, activation="relu", use_bias=False)(b))])
    model = randomize(keras.Model([a, b], L.Dense(3, use_bias=False)(h)), seed=7)
    xa, xb = RNG.normal(size=(2, 4)).astype("float32"), RNG.normal(size=(2, 3, 3, 1)).astype("float32")
    rel = attribute(model, [xa, xb], composite="epsilon_plus", epsilon=1e-9, stabilizer=1e-9)
    assert isinstance(rel, list) and rel[0].shape == xa.shape and rel[1].shape == xb.shape
    assert np.abs(rel[0]).sum() > 0 and np.abs(rel[1]).sum() > 0
    assert_conserves(rel, np.asarray(model([xa, xb])).max(1))


def _set_bn_stats(model, seed):
    rng = np.random.default_rng(seed)
    for lay in model.layers:
        if isinstance(lay, L.BatchNormalization):
            n = lay.gamma.shape[0]
            lay.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n) * 0.5,
                             rng.uniform(0.2, 3, n)])


def test_batchnorm_folding_leaves_outputs_unchanged_and_matches_hand_folded_model():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU(),
        L.DepthwiseConv2D(3, use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Conv2D(3, 1, activation="relu"), L.BatchNormalization(),  # after the activation: cannot fold, Pass
        L.Flatten(), L.Dense(6), L.BatchNormalization(), L.ReLU(), L.Dense(3),
    ])
    randomize(model, seed=8)
    _set_bn_stats(model, 9)
    x = RNG.normal(size=(3, 8, 8, 3)).astype("float32")
    exp = explainer(model, "epsilon_plus")
    rel, _, logits = exp.fn([x], np.array([-1, -1, -1], np.int32))
    np.testing.assert_allclose(logits.numpy(), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    bn_left = [s for s in exp.steps if isinstance(s.layer, L.BatchNormalization)]
    assert len(bn_left) == 1  # only the one after an activation stays (and gets Pass)

    # Same network with BN folded by hand in float64: the relevance must agree.
    def fold(w, b, bn):
        g, beta, mu, var = [np.asarray(v, np.float64) for v in bn.get_weights()]
        s = g / np.sqrt(var + bn.epsilon)
        return w * s, (b - mu) * s + beta

    ls = model.layers
    w0, b0 = fold(np.asarray(ls[0].kernel, np.float64), np.asarray(ls[0].bias, np.float64), ls[1])
    kd = np.asarray(ls[3].kernel, np.float64)
    wd, bd = fold(kd, np.zeros(kd.shape[2] * kd.shape[3]), ls[4])
    wd = wd.reshape(kd.shape) if wd.shape == kd.shape else wd
    w9, b9 = fold(np.asarray(ls[9].kernel, np.float64), np.asarray(ls[9].bias, np.float64), ls[10])
    twin = keras.Sequential([
        keras.Input((8, 8, 3)), L.Conv2D(4, 3), L.ReLU(), L.DepthwiseConv2D(3), L.ReLU(),
        L.Conv2D(3, 1, activation="relu"), L.BatchNormalization(), L.Flatten(), L.Dense(6), L.ReLU(), L.Dense(3)])
    scale_d = (np.asarray(ls[4].gamma) / np.sqrt(np.asarray(ls[4].moving_variance) + ls[4].epsilon)).reshape(4, 1)
    twin.layers[0].set_weights([w0.astype("float32"), b0.astype("float32")])
    twin.layers[2].set_weights([(kd * scale_d).astype("float32"), bd.astype("float32")])
    twin.layers[4].set_weights(ls[6].get_weights())
    twin.layers[5].set_weights(ls[7].get_weights())
    twin.layers[7].set_weights([w9.astype("float32"), b9.astype("float32")])
    twin.layers[9].set_weights(ls[12].get_weights())
    np.testing.assert_allclose(np.asarray(twin(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rel[0].numpy(), attribute(twin, x), rtol=1e-3, atol=1e-4 * np.abs(rel[0]).max())


def test_final_softmax_is_skipped_as_dense_activation_or_layer():
    base = randomize(keras.Sequential([keras.Input((5,)), L.Dense(6, activation="relu"), L.Dense(3)]), seed=10)
    fused = keras.Sequential([keras.Input((5,)), base.layers[0], L.Dense(3, activation="softmax")])
    fused.layers[-1].set_weights(base.layers[1].get_weights())
    layer = keras.Sequential([keras.Input((5,))] + base.layers + [L.Softmax()])
    act = keras.Sequential([keras.Input((5,))] + base.layers + [L.Activation("softmax")])
    x = RNG.normal(size=(4, 5)).astype("float32")
    ref = attribute(base, x, target=[0, 1, 2, 0], composite="epsilon")
    for m in (fused, layer, act):
        np.testing.assert_allclose(attribute(m, x, target=[0, 1, 2, 0], composite="epsilon"), ref, rtol=1e-6)


def test_target_none_int_and_per_example():
    model = randomize(keras.Sequential([keras.Input((5,)), L.Dense(4)]), seed=11)
    x = RNG.normal(size=(3, 5)).astype("float32")
    pred = np.asarray(model(x)).argmax(1)
    per = attribute(model, x, target=pred, composite="epsilon")
    np.testing.assert_array_equal(attribute(model, x, composite="epsilon"), per)
    r2 = attribute(model, x, target=2, composite="epsilon")
    bias = np.asarray(model.layers[0].bias)[2]  # ε on one layer: relevance + the bias's share = the logit
    np.testing.assert_allclose(r2.sum(1) + bias, np.asarray(model(x))[:, 2], rtol=1e-4)


class Scale(L.Layer):
    def call(self, x):
        return 2.0 * x


def test_unsupported_layer_error_names_it_and_the_fix_works():
    model = keras.Sequential([keras.Input((3,)), L.Dense(3), Scale(name="my_scale"), L.Dense(2)])
    x = RNG.normal(size=(2, 3)).astype("float32")
    with pytest.raises(LRPError) as err:
        attribute(model, x)
    msg = str(err.value)
    assert "my_scale" in msg and "Scale" in msg and "layer_map" in msg and "name_map" in msg
    by_type = attribute(model, x, layer_map={Scale: Pass()})
    by_name = attribute(model, x, name_map={"my_scale": Pass()})
    np.testing.assert_array_equal(by_type, by_name)
    assert np.abs(by_type).sum() > 0


def test_one_compiled_function_per_model_and_composite():
    model = randomize(vgg_like(bias=True), seed=12)
    e1 = explainer(model, "epsilon_plus")
    attribute(model, RNG.normal(size=(2, 12, 12, 3)).astype("float32"))
    attribute(model, RNG.normal(size=(5, 12, 12, 3)).astype("float32"))
    assert explainer(model, "epsilon_plus") is e1
    assert e1.fn.experimental_get_tracing_count() == 1
    assert explainer(model, "epsilon_plus", epsilon=0.1) is not e1


def test_first_layer_rules_go_to_the_first_linear_layer_only():
    model = randomize(keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(2)]), seed=13)
    x = RNG.normal(size=(3, 6)).astype("float32")
    rel = attribute(model, x, composite="epsilon_plus_flat")
    # Flat on the first Dense: every input of an example gets the same relevance (uniform spread).
    np.testing.assert_allclose(rel, np.repeat(rel[:, :1], 6, axis=1), rtol=1e-5)
    explicit = Composite(layer_map={L.Dense: Epsilon()}, first_map={L.Dense: Flat()})
    np.testing.assert_allclose(rel, attribute(model, x, composite=explicit), rtol=1e-6)


def test_gamma_box_puts_zbox_on_first_convolution():
    model = randomize(vgg_like(bias=True), seed=14)
    x = RNG.uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    rel = attribute(model, x, composite="epsilon_gamma_box", low=0.0, high=1.0)
    from tb_nnvis.lrp import Gamma
    c = Composite(layer_map={CONVOLUTION: Gamma(0.25), L.Dense: Epsilon()}, first_map={CONVOLUTION: ZBox(0.0, 1.0)})
    np.testing.assert_allclose(rel, attribute(model, x, composite=c), rtol=1e-6)
    with pytest.raises(TypeError):
        attribute(model, x, composite="epsilon_gamma_box")  # low/high are required


def test_embedding_gives_per_token_relevance():
    model = keras.Sequential([keras.Input((7,), dtype="int32"), L.Embedding(20, 4),
                              L.GlobalAveragePooling1D(), L.Dense(3, use_bias=False)])
    randomize(model, seed=15)
    ids = RNG.integers(0, 20, size=(2, 7))
    rel = attribute(model, ids, composite="epsilon", epsilon=1e-9, stabilizer=1e-9)
    assert rel.shape == (2, 7)
    assert_conserves(rel, np.asarray(model(ids)).max(1))


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_embedding_recurrent_dense_end_to_end(cell):
    recurrent = pytest.importorskip("tb_nnvis.core.lrp.recurrent")
    rnn = getattr(L, cell)(5)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(12, 4), rnn, L.Dense(3)])
    ids = RNG.integers(0, 12, size=(3, 6))
    rel = attribute(model, ids, target=1, composite="epsilon")
    assert rel.shape == (3, 6) and np.isfinite(rel).all() and np.abs(rel).sum() > 0
    # Same thing by hand: ε on the Dense, then the recurrent module's relevance, summed over the embedding.
    emb = np.asarray(model.layers[0](ids))
    h = np.asarray(rnn(emb), np.float64)
    w, b = [np.asarray(v, np.float64) for v in model.layers[2].get_weights()]
    z = h @ w + b
    r_out = np.zeros_like(z)
    r_out[:, 1] = z[:, 1]
    r_h = h * ((r_out / (z + 1e-6 * np.where(z >= 0, 1, -1))) @ w.T)
    fn = recurrent.lstm_relevance if cell == "LSTM" else recurrent.gru_relevance
    r_x = np.asarray(fn(rnn, tf.constant(emb), tf.constant(r_h, tf.float32), epsilon=1e-6)).sum(-1)
    np.testing.assert_allclose(rel, r_x, rtol=1e-4, atol=1e-5 * np.abs(r_x).max())


def test_bad_targets_and_inputs_are_clear_errors():
    import keras
    import numpy as np
    import pytest

    from tb_nnvis.lrp import attribute

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.ones((2, 4), "float32")
    with pytest.raises(ValueError, match="out of range: the model has 3 logits"):
        attribute(m, x, target=3, composite="epsilon")
    with pytest.raises(ValueError, match="out of range"):
        attribute(m, x, target=[0, -1], composite="epsilon")
    with pytest.raises(ValueError, match="one per example"):
        attribute(m, x, target=[0, 1, 2], composite="epsilon")
    with pytest.raises(ValueError, match="expects"):
        attribute(m, np.ones((2, 5), "float32"), composite="epsilon")
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        attribute(m, x, composite="epsilon")


def _bidirectional_text_model(layer_cls, merge_mode, return_sequences, use_bias=True):
    import keras

    keras.utils.set_random_seed(3)
    i = keras.Input((7,), dtype="int32")
    e = keras.layers.Embedding(20, 5)(i)
    h = keras.layers.Bidirectional(layer_cls(4, return_sequences=return_sequences, use_bias=use_bias),
                                   merge_mode=merge_mode)(e)
    if return_sequences:
        h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(i, keras.layers.Dense(3, use_bias=use_bias)(h))


def test_bidirectional_concat_equals_two_explicit_layers():
    import keras
    import numpy as np

    from tb_nnvis.lrp import attribute

    for cls in (keras.layers.LSTM, keras.layers.GRU):
        bidi = _bidirectional_text_model(cls, "concat", False)
        wrapper = bidi.layers[2]
        # The same network written out: a forward layer, a go_backwards layer, concatenated.
        i = keras.Input((7,), dtype="int32")
        e = keras.layers.Embedding(20, 5)(i)
        f = cls(4)(e)
        b = cls(4, go_backwards=True)(e)
        twin = keras.Model(i, keras.layers.Dense(3)(keras.layers.Concatenate()([f, b])))
        twin.layers[1].set_weights(bidi.layers[1].get_weights())
        twin.layers[2].set_weights(wrapper.forward_layer.get_weights())
        twin.layers[3].set_weights(wrapper.backward_layer.get_weights())
        twin.layers[-1].set_weights(bidi.layers[-1].get_weights())
        ids = np.random.default_rng(0).integers(0, 20, (3, 7))
        np.testing.assert_allclose(twin(ids), bidi(ids), rtol=1e-5, atol=1e-6)
        r = attribute(bidi, ids, target=1, composite="epsilon")
        assert r.shape == (3, 7)
        np.testing.assert_allclose(r, attribute(twin, ids, target=1, composite="epsilon"), rtol=1e-4, atol=1e-6)


def test_bidirectional_sum_and_sequences_conserve_without_biases():
    import keras
    import numpy as np

    from tb_nnvis.lrp import Composite, Epsilon, attribute

    for cls, mode in ((keras.layers.LSTM, "sum"), (keras.layers.GRU, "concat")):
        model = _bidirectional_text_model(cls, mode, True, use_bias=False)
        ids = np.random.default_rng(1).integers(0, 20, (4, 7))
        composite = Composite(layer_map={keras.layers.Dense: Epsilon(1e-9)}, epsilon=1e-9, stabilizer=1e-9)
        r = attribute(model, ids, target=0, composite=composite)
        logit = model(ids).numpy()[:, 0]
        np.testing.assert_allclose(r.sum(axis=1), logit, rtol=1e-4, atol=1e-6)


def test_bidirectional_ave_names_the_layer():
    import keras
    import numpy as np
    import pytest

    from tb_nnvis.lrp import LRPError, attribute

    model = _bidirectional_text_model(keras.layers.LSTM, "ave", False)
    with pytest.raises(LRPError, match="bidirectional.*'ave'"):
        attribute(model, np.zeros((1, 7), "int32"), composite="epsilon")

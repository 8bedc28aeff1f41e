"""Relevance at named layers (same pass) and unit heatmaps, against independent computations."""
import keras
import numpy as np
import pytest

from tb_nnvis.lrp import LRPError, attribute
from tb_nnvis.core.lrp.intermediate import attribute_layers, unit_gradients, unit_heatmaps


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((10, 10, 2)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(5, 3, activation="relu", name="conv2"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(6, activation="relu", name="fc"),
        keras.layers.Dense(3, name="logits"),
    ])
    x = np.random.default_rng(0).random((4, 10, 10, 2)).astype("float32")
    return model, x


def _tail(model, name):
    """A new model made of the layers after ``name`` (same weight objects), fed the layer's output."""
    layers = model.layers
    i = [layer.name for layer in layers].index(name)
    return keras.Sequential([keras.Input(layers[i].output.shape[1:])] + layers[i + 1:])


@pytest.mark.parametrize("composite", ["epsilon", "epsilon_plus"])
def test_layer_relevance_equals_lrp_of_the_tail_model(cnn, composite):
    model, x = cnn
    rel, at, targets, logits = attribute_layers(model, x, ["conv2", "fc"], target=[0, 1, 2, 1], composite=composite)
    assert np.array_equal(targets, [0, 1, 2, 1])
    np.testing.assert_allclose(logits, model(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rel, attribute(model, x, target=[0, 1, 2, 1], composite=composite), rtol=1e-5, atol=1e-7)
    for name in ("conv2", "fc"):
        act = keras.Model(model.inputs, model.get_layer(name).output)(x).numpy()
        expected = attribute(_tail(model, name), act, target=[0, 1, 2, 1], composite=composite)
        assert at[name].shape == act.shape
        np.testing.assert_allclose(at[name], expected, rtol=1e-4, atol=1e-6)


def test_dense_layer_relevance_matches_float64_epsilon_replica():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="relu", name="h"),
                              keras.layers.Dense(3, name="out")])
    x = np.random.default_rng(1).standard_normal((6, 5)).astype("float32")
    _, at, targets, _ = attribute_layers(model, x, ["h"], composite="epsilon")
    w1, b1 = [v.astype(np.float64) for v in model.get_layer("h").get_weights()]
    w2, b2 = [v.astype(np.float64) for v in model.get_layer("out").get_weights()]
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0)
    z = h @ w2 + b2
    start = np.zeros_like(z)
    start[np.arange(len(z)), z.argmax(1)] = z[np.arange(len(z)), z.argmax(1)]
    stab = z + 1e-6 * np.where(z >= 0, 1.0, -1.0)
    expected = h * ((start / stab) @ w2.T)
    assert np.array_equal(targets, z.argmax(1))
    np.testing.assert_allclose(at["h"], expected, rtol=1e-4, atol=1e-6)


def test_per_unit_relevance_sums_to_the_layer_total_and_is_conserved():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              keras.layers.Conv2D(3, 3, activation="relu", use_bias=False, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2, use_bias=False, name="out")])
    x = np.random.default_rng(2).random((3, 8, 8, 1)).astype("float32")
    rel, at, targets, logits = attribute_layers(model, x, ["conv"], composite="epsilon")
    per_unit = at["conv"].sum(axis=(1, 2))
    assert per_unit.shape == (3, 3)
    np.testing.assert_allclose(per_unit.sum(1), at["conv"].reshape(3, -1).sum(1), rtol=1e-6)
    # bias-free, ε tiny: the layer holds the logit's relevance, and so does the input
    picked = logits[np.arange(3), targets]
    np.testing.assert_allclose(per_unit.sum(1), picked, rtol=1e-3)
    np.testing.assert_allclose(rel.reshape(3, -1).sum(1), picked, rtol=1e-3)


def test_attribute_with_layers_returns_the_same_pass(cnn):
    model, x = cnn
    rel, at = attribute(model, x, composite="epsilon", layers=["fc"])
    rel2, at2, _, _ = attribute_layers(model, x, ["fc"], composite="epsilon")
    np.testing.assert_array_equal(rel, rel2)
    np.testing.assert_array_equal(at["fc"], at2["fc"])


def test_unit_heatmaps_equal_lrp_of_the_unit_through_average_pooling(cnn):
    """Starting at unit u's activation is LRP of a model ending in conv2 → GlobalAveragePooling with
    target u (average pooling splits in proportion to the activations), times the number of positions."""
    model, x = cnn
    units = [0, 3, 4]
    heat = unit_heatmaps(model, x, "conv2", units, composite="epsilon_plus", batch_size=5)
    assert heat.shape == (4, 3, 10, 10, 2)
    head = keras.Model(model.inputs, keras.layers.GlobalAveragePooling2D()(model.get_layer("conv2").output))
    positions = int(np.prod(model.get_layer("conv2").output.shape[1:3]))
    for j, u in enumerate(units):
        expected = positions * attribute(head, x, target=u, composite="epsilon_plus")
        np.testing.assert_allclose(heat[:, j], expected, rtol=2e-3, atol=1e-6)


def test_unit_heatmap_of_a_dense_unit_conserves_its_activation():
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu", use_bias=False, name="h"),
                              keras.layers.Dense(2)])
    x = np.random.default_rng(4).random((5, 6)).astype("float32")
    heat = unit_heatmaps(model, x, "h", [0, 1, 2, 3], composite="epsilon")
    act = keras.Model(model.inputs, model.get_layer("h").output)(x).numpy()
    np.testing.assert_allclose(heat.sum(-1), act, rtol=1e-3, atol=1e-6)


def test_text_model_gets_per_token_layer_and_unit_relevance():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(20, 4, name="emb"),
                              keras.layers.Conv1D(3, 2, activation="relu", name="conv"),
                              keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2, name="out")])
    ids = np.random.default_rng(5).integers(0, 20, (3, 7)).astype("int32")
    rel, at, _, _ = attribute_layers(model, ids, ["conv"], composite="epsilon")
    assert rel.shape == (3, 7) and at["conv"].shape == (3, 6, 3)
    assert unit_heatmaps(model, ids, "conv", [1], composite="epsilon").shape == (3, 1, 7)


def test_clear_errors(cnn):
    model, x = cnn
    with pytest.raises(LRPError, match="no layer 'nope'.*conv1"):
        attribute_layers(model, x, ["nope"])
    with pytest.raises(ValueError, match="out of range: layer 'conv2' has 5 units"):
        unit_heatmaps(model, x, "conv2", [5])
    shared = keras.layers.Dense(4, name="shared")
    inp = keras.Input((4,))
    twice = keras.Model(inp, keras.layers.Dense(2)(shared(shared(inp))))
    with pytest.raises(LRPError, match="called 2 times"):
        attribute_layers(twice, np.ones((1, 4), "float32"), ["shared"])


def test_eager_and_compiled_passes_agree(cnn):
    model, x = cnn
    rel, at, t, logits = attribute_layers(model, x, ["conv2"], composite="epsilon_plus", compiled=False)
    rel2, at2, t2, logits2 = attribute_layers(model, x, ["conv2"], composite="epsilon_plus")
    np.testing.assert_allclose(rel, rel2, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(at["conv2"], at2["conv2"], rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(t, t2)
    np.testing.assert_allclose(unit_heatmaps(model, x, "conv2", [1, 3], compiled=False),
                               unit_heatmaps(model, x, "conv2", [1, 3]), rtol=1e-5, atol=1e-8)


def test_unit_gradients_are_gradient_times_input_of_the_units_sum(cnn):
    import tensorflow as tf

    model, x = cnn
    got = unit_gradients(model, x, "conv2", [4, 0], batch_size=3)
    head = keras.Model(model.inputs, model.get_layer("conv2").output)
    xt = tf.constant(x)
    for j, u in enumerate([4, 0]):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            total = tf.reduce_sum(head(xt)[..., u])
        np.testing.assert_allclose(got[:, j], (tape.gradient(total, xt) * xt).numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="float inputs"):
        unit_gradients(model, x.astype("int32"), "conv2", [0])

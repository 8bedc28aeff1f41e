"""Captum's published LRP golden values (``tests/attr/test_lrp.py``), on its tiny models rebuilt in Keras
with the same weights. Captum's ε is 1e-9, ours 1e-6: the difference is far below the tolerance."""
import keras
import numpy as np
import pytest

from tb_nnvis.lrp import AlphaBeta, Composite, Epsilon, Gamma, Pass, attribute

L = keras.layers
C = keras.initializers.Constant


def simple_model(w00=2.0, linear_rule=None, linear2_rule=None):
    """Captum's SimpleLRPModel: Linear(3,3, w=2) → ReLU → Linear(3,1, w=3) → Dropout, no biases."""
    i = keras.Input((3,))
    lin = L.Dense(3, use_bias=False, kernel_initializer=C(2.0), name="linear")
    h = lin(i)
    o = L.Dropout(0.01)(L.Dense(1, use_bias=False, kernel_initializer=C(3.0), name="linear2")(L.ReLU()(h)))
    m = keras.Model(i, o)
    k = np.full((3, 3), 2.0, np.float32)
    k[0, 0] = w00  # torch weight[0][0] is (out 0, in 0): the same entry of the Keras kernel (in, out)
    lin.set_weights([k])
    comp = Composite(name_map={"linear": linear_rule or Epsilon(), "linear2": linear2_rule or Epsilon()})
    return m, comp


X = np.array([[1.0, 2.0, 3.0]], np.float32)


def test_epsilon_simple():
    m, comp = simple_model()
    np.testing.assert_allclose(attribute(m, X, composite=comp), [[18.0, 36.0, 54.0]], rtol=1e-5)


def test_epsilon_batch_target0():
    m, comp = simple_model()
    r = attribute(m, np.concatenate([X, 3 * X]), target=0, composite=comp)
    np.testing.assert_allclose(r, [[18.0, 36.0, 54.0], [54.0, 108.0, 162.0]], rtol=1e-5)


def test_gamma():
    m, comp = simple_model(w00=-2.0, linear_rule=Gamma(gamma=1.0), linear2_rule=Gamma())
    np.testing.assert_allclose(attribute(m, X, composite=comp), [[28 / 3, 104 / 3, 52]], rtol=1e-5)


def test_alpha1_beta0():
    m, comp = simple_model(w00=-2.0, linear_rule=AlphaBeta(1, 0), linear2_rule=AlphaBeta(1, 0))
    np.testing.assert_allclose(attribute(m, X, composite=comp), [[12, 33.6, 50.4]], rtol=1e-5)


def test_identity_on_first_linear():
    m, comp = simple_model(w00=-2.0, linear_rule=Pass(), linear2_rule=Epsilon())
    np.testing.assert_allclose(attribute(m, X, composite=comp), [[24.0, 36.0, 36.0]], rtol=1e-5)


def test_tanh_is_passed():
    i = keras.Input((3,))
    h = L.Activation("tanh")(L.Dense(3, use_bias=False, kernel_initializer=C(0.1))(i))
    m = keras.Model(i, L.Dense(1, use_bias=False, kernel_initializer=C(0.1))(h))
    np.testing.assert_allclose(attribute(m, X, composite="epsilon"), [[0.0269, 0.0537, 0.0806]], atol=5e-5)


def test_lrp_equals_input_x_gradient_on_simple_model():
    m, comp = simple_model()
    import tensorflow as tf
    x = tf.constant(X)
    with tf.GradientTape() as t:
        t.watch(x)
        y = m(x)
    np.testing.assert_allclose(attribute(m, X, composite=comp), (t.gradient(y, x) * x).numpy(), rtol=1e-5)


def test_basic_conv_model():
    """BasicModel_ConvNet_One_Conv: Conv(1→2, 3×3, w=1, b=[-50,-75]) → ReLU → view(-1, 8) → Linear(8→4) → ReLU.
    torch flattens (C, H, W): a Permute to channels-first before Flatten keeps the weight order."""
    i = keras.Input((4, 4, 1))
    h = L.Conv2D(2, 3, activation="relu", kernel_initializer=C(1.0))(i)
    h = L.Flatten()(L.Permute((3, 1, 2))(h))
    fc = L.Dense(4, activation="relu")
    m = keras.Model(i, fc(h))
    m.layers[1].set_weights([np.ones((3, 3, 1, 2), np.float32), np.array([-50.0, -75.0], np.float32)])
    w = np.concatenate([np.ones((4, 5)), -np.ones((4, 3))], axis=1).T.astype(np.float32)
    fc.set_weights([w, np.zeros(4, np.float32)])
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    expected = np.array([[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(attribute(m, x, composite="epsilon")[0, :, :, 0], expected, rtol=1e-5, atol=1e-5)


def test_skip_connection():
    i = keras.Input((2,))
    m = keras.Model(i, L.Add()([L.Dense(2, use_bias=False, kernel_initializer=C(5.0))(i), i]))
    np.testing.assert_allclose(attribute(m, np.array([[2.0, 3.0]], np.float32), target=1, composite="epsilon"),
                               [[10.0, 18.0]], rtol=1e-5)


def test_maxpool1d_after_linear():
    """torch pools the last axis; Keras pools the steps axis, hence the Permute."""
    i = keras.Input((2, 2))
    h = L.Dense(2, use_bias=False, kernel_initializer=C(2.0))(i)
    m = keras.Model(i, L.Flatten()(L.MaxPooling1D(2)(L.Permute((2, 1))(h))))
    x = np.array([[[1.0, 2.0], [5.0, 6.0]]], np.float32)
    np.testing.assert_allclose(attribute(m, x, target=1, composite="epsilon"), [[[0.0, 0.0], [10, 12]]], rtol=1e-5)


@pytest.mark.parametrize("dim", [2, 3])
def test_maxpool_nd(dim):
    if dim == 2:
        x = np.array([[1.0, 2.0], [5.0, 6.0]], np.float32).reshape(1, 2, 2, 1)
        expected = np.array([[0.0, 0.0], [0.0, 6.0]]).reshape(1, 2, 2, 1)
        pool = L.MaxPooling2D(2)
    else:
        x = np.array([[[1.0, 2.0], [5.0, 6.0]], [[3.0, 4.0], [7.0, 8.0]]], np.float32).reshape(1, 2, 2, 2, 1)
        expected = np.zeros((1, 2, 2, 2, 1))
        expected[0, 1, 1, 1, 0] = 8.0
        pool = L.MaxPooling3D(2)
    i = keras.Input(x.shape[1:])
    m = keras.Model(i, L.Flatten()(pool(i)))
    np.testing.assert_allclose(attribute(m, x, composite="epsilon"), expected)

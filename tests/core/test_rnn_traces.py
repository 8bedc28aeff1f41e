"""RNN traces against the layers' own outputs (1e-5) and a float64 numpy replica of every gate."""
import keras
import numpy as np
import pytest

from tb_nnvis.core.rnn import traces as traces_lib

V, E, T = 12, 5, 9
# Token ids with padding (0 = masked) at the end of row 1 and in the middle of row 2.
IDS = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 5],
                [2, 7, 1, 8, 2, 8, 0, 0, 0],
                [1, 4, 0, 2, 1, 3, 5, 0, 6]], dtype="int32")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def replica(layer, x, mask):
    """float64 numpy time loop of an LSTM/GRU/SimpleRNN layer, written from Keras's equations."""
    cell = layer.cell
    w = [np.asarray(v, np.float64) for v in cell.get_weights()]
    k, u = w[0], w[1]
    b = w[2] if cell.use_bias else np.zeros(k.shape[1] if not isinstance(cell, keras.layers.GRUCell)
                                            or not cell.reset_after else (2, k.shape[1]))
    x, mask = np.asarray(x, np.float64), np.asarray(mask, bool)
    if layer.go_backwards:
        x, mask = x[:, ::-1], mask[:, ::-1]
    bsz, steps, _ = x.shape
    h_units = cell.units
    kind = type(cell).__name__
    names = traces_lib.TRACE_KINDS[{"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "simple_rnn"}[kind]]
    state = {n: np.zeros((bsz, h_units)) for n in names}
    out = {n: np.zeros((bsz, steps, h_units)) for n in names}
    for t in range(steps):
        h = state["hidden"]
        if kind == "LSTMCell":
            z = x[:, t] @ k + h @ u + b
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            i, f, o, g = sigmoid(zi), sigmoid(zf), sigmoid(zo), np.tanh(zc)
            c = f * state["cell"] + i * g
            new = {"hidden": o * np.tanh(c), "cell": c, "input_gate": i, "forget_gate": f, "output_gate": o,
                   "candidate": g}
        elif kind == "GRUCell":
            b_in, b_rec = (b[0], b[1]) if cell.reset_after else (b, np.zeros_like(b))
            xz, xr, xh = np.split(x[:, t] @ k + b_in, 3, axis=1)
            uz, ur, uh = np.split(u, 3, axis=1)
            brz, brr, brh = np.split(b_rec, 3)
            z, r = sigmoid(xz + h @ uz + brz), sigmoid(xr + h @ ur + brr)
            hh = np.tanh(xh + r * (h @ uh + brh)) if cell.reset_after else np.tanh(xh + (r * h) @ uh)
            new = {"hidden": z * h + (1 - z) * hh, "update_gate": z, "reset_gate": r, "candidate": hh}
        else:
            new = {"hidden": np.tanh(x[:, t] @ k + h @ u + b)}
        for n in names:
            state[n] = np.where(mask[:, t, None], new[n], state[n])
            out[n][:, t] = state[n]
    if layer.go_backwards:
        out = {n: v[:, ::-1] for n, v in out.items()}
    return out


def make_layer(kind, **kw):
    keras.utils.set_random_seed(1)
    if kind == "lstm":
        return keras.layers.LSTM(7, **kw)
    if kind == "gru":
        return keras.layers.GRU(7, **kw)
    if kind == "gru_v1":
        return keras.layers.GRU(7, reset_after=False, **kw)
    return keras.layers.SimpleRNN(7, **kw)


def randomise(layer):
    """Biases away from Keras's zeros/ones, so that the bias layout is tested too."""
    rng = np.random.default_rng(2)
    layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])


def embedded(model):
    emb = model.get_layer("emb")
    return np.asarray(emb(IDS)), IDS != 0


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_v1", "simple"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_traces_equal_keras_outputs_and_a_float64_replica(kind, return_sequences, go_backwards):
    layer = make_layer(kind, return_sequences=return_sequences, go_backwards=go_backwards, name="rnn")
    inp = keras.Input((None,), dtype="int32")
    model = keras.Model(inp, layer(keras.layers.Embedding(V, E, mask_zero=True, name="emb")(inp)))
    randomise(layer)
    got = traces_lib.traces(model, IDS)["rnn"]
    x, mask = embedded(model)
    # The layer's own sequence output and final states: a twin with return_state and return_sequences.
    twin = type(layer).from_config({**layer.get_config(), "return_sequences": True, "return_state": True})
    twin(x[:1], mask=mask[:1])
    twin.set_weights(layer.get_weights())
    seq, *states = [np.asarray(s) for s in twin(x, mask=mask)]
    seq = seq[:, ::-1] if go_backwards else seq  # Keras returns processing order
    np.testing.assert_allclose(got["hidden"], seq, atol=1e-5)
    last = 0 if go_backwards else -1
    np.testing.assert_allclose(got["hidden"][:, last], states[0], atol=1e-5)
    own = np.asarray(model(IDS))  # the model's output is the layer's
    if return_sequences:
        np.testing.assert_allclose(got["hidden"], own[:, ::-1] if go_backwards else own, atol=1e-5)
    else:
        np.testing.assert_allclose(got["hidden"][:, last], own, atol=1e-5)
    if kind == "lstm":
        np.testing.assert_allclose(got["cell"][:, last], states[1], atol=1e-5)
    ref = replica(layer, x, mask)
    assert sorted(got) == sorted(ref)
    for name in ref:
        assert got[name].dtype == np.float32 and got[name].shape == (3, T, 7)
        np.testing.assert_allclose(got[name], ref[name], atol=1e-5, err_msg=name)


def test_masked_steps_carry_the_state_over():
    layer = keras.layers.LSTM(4, return_sequences=True, name="rnn")
    inp = keras.Input((None,), dtype="int32")
    model = keras.Model(inp, layer(keras.layers.Embedding(V, E, mask_zero=True)(inp)))
    got = traces_lib.traces(model, IDS)["rnn"]
    for name, values in got.items():
        np.testing.assert_array_equal(values[2, 2], values[2, 1], err_msg=name)   # the hole in row 2
        np.testing.assert_array_equal(values[1, 8], values[1, 5], err_msg=name)   # the padded tail
    assert not np.allclose(got["hidden"][2, 3], got["hidden"][2, 2])


def stacked_bidirectional_nested():
    """Sequential inside Functional: Embedding, Bidirectional LSTM (concat), GRU, SimpleRNN."""
    keras.utils.set_random_seed(3)
    inner = keras.Sequential([
        keras.Input((None, E)),
        keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True), name="bi"),
        keras.layers.GRU(4, return_sequences=True, name="gru"),
    ], name="encoder")
    inp = keras.Input((None,), dtype="int32")
    seq = inner(keras.layers.Embedding(V, E, name="emb")(inp))
    out = keras.layers.SimpleRNN(2, name="top")(seq)
    return keras.Model(inp, keras.layers.Dense(3)(out))


def test_stacked_bidirectional_and_nested_layers():
    model = stacked_bidirectional_nested()
    assert traces_lib.list_recurrent(model) == ["encoder/bi", "encoder/gru", "top"]
    got = traces_lib.traces(model, IDS)
    assert list(got) == ["encoder/bi/forward", "encoder/bi/backward", "encoder/gru", "top"]
    enc = model.get_layer("encoder")
    x = np.asarray(model.get_layer("emb")(IDS))
    bi = np.asarray(enc.get_layer("bi")(x))
    np.testing.assert_allclose(got["encoder/bi/forward"]["hidden"], bi[..., :3], atol=1e-5)
    np.testing.assert_allclose(got["encoder/bi/backward"]["hidden"], bi[..., 3:], atol=1e-5)  # input order
    np.testing.assert_allclose(got["encoder/gru"]["hidden"], np.asarray(enc(x)), atol=1e-5)
    top = keras.Model(model.inputs[0], model.get_layer("top").output)(IDS)
    np.testing.assert_allclose(got["top"]["hidden"][:, -1], top, atol=1e-5)
    # chosen layers by plain name, and the gates of the backward direction against the replica
    only = traces_lib.traces(model, IDS, layers=["bi"])
    assert list(only) == ["encoder/bi/forward", "encoder/bi/backward"]
    ref = replica(enc.get_layer("bi").backward_layer, x, np.ones(IDS.shape, bool))
    np.testing.assert_allclose(only["encoder/bi/backward"]["forget_gate"], ref["forget_gate"], atol=1e-5)


def test_float64_input_is_traced_in_float64():
    layer = keras.layers.GRU(3, return_sequences=True, dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 6, 4))
    out = np.asarray(layer(x))
    got = traces_lib.cell_traces(layer, x)
    assert got["hidden"].dtype == "float64"
    np.testing.assert_allclose(got["hidden"], out, atol=1e-12)


def test_clear_errors():
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    with pytest.raises(ValueError, match="no LSTM, GRU or SimpleRNN"):
        traces_lib.traces(dense, np.zeros((1, 4)))
    model = stacked_bidirectional_nested()
    with pytest.raises(ValueError, match="not LSTM, GRU or SimpleRNN.*encoder/bi"):
        traces_lib.traces(model, IDS, layers=["emb"])
    with pytest.raises(ValueError, match="no layer 'nope'"):
        traces_lib.traces(model, IDS, layers=["nope"])
    inp = keras.Input((5, 3))
    h0 = keras.Input((2,))
    stateful = keras.Model([inp, h0], keras.layers.GRU(2, name="g")(inp, initial_state=h0))
    with pytest.raises(ValueError, match="initial_state"):
        traces_lib.traces(stateful, [np.zeros((1, 5, 3)), np.zeros((1, 2))])


def test_bidirectional_with_a_mask_equals_the_layer_on_real_steps():
    keras.utils.set_random_seed(4)
    inp = keras.Input((None,), dtype="int32")
    bi = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True), name="bi")
    model = keras.Model(inp, bi(keras.layers.Embedding(V, E, mask_zero=True, name="emb")(inp)))
    randomise(bi)
    got = traces_lib.traces(model, IDS)
    out = np.asarray(model(IDS))
    real = IDS != 0
    np.testing.assert_allclose(got["bi/forward"]["hidden"][real], out[..., :3][real], atol=1e-5)
    np.testing.assert_allclose(got["bi/backward"]["hidden"][real], out[..., 3:][real], atol=1e-5)
    x, mask = embedded(model)
    ref = replica(bi.backward_layer, x, mask)
    for name, values in got["bi/backward"].items():
        np.testing.assert_allclose(values, ref[name], atol=1e-5, err_msg=name)

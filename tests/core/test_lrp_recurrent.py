"""Tests for tb_nnvis.core.lrp.recurrent (LRP for LSTM / GRU, Arras et al.).

The reference is an independent float64 numpy replica written here: one
sample at a time, explicit loop over time, the ε-rule written as the full
message matrix ``x_d W_dj / stab(z_j) R_j`` (as in Arras' ``lrp_linear``),
gates read from the weight matrices by their documented Keras order.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis.core.lrp import recurrent
from tb_nnvis.core.lrp.recurrent import (
    eps_linear,
    gru_relevance,
    lstm_relevance,
    recurrent_forward,
)

B, T, D, H = 3, 7, 5, 4


# ---------------------------------------------------------------------------
# Independent numpy float64 replica
# ---------------------------------------------------------------------------


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def _stab(v, eps):
    return v + eps * np.where(v >= 0, 1.0, -1.0)


def _lrp_lin(hin, w, hout, rout, eps):
    """ε-rule message matrix, summed over outputs: (D,), (D,M), (M,), (M,)."""
    msg = hin[:, None] * w / _stab(hout, eps)[None, :] * rout[None, :]
    return msg.sum(axis=1)


def _np_lstm(weights, use_bias, x, r_out, eps, h0=None, c0=None):
    """Returns (h_seq [T,H] processing order, R_x [T,D], absorbed, R_init)."""
    k, u = weights[0], weights[1]
    hdim = u.shape[0]
    b = weights[2] if use_bias else np.zeros(4 * hdim)
    tt = x.shape[0]
    h = np.zeros(hdim) if h0 is None else h0.copy()
    c = np.zeros(hdim) if c0 is None else c0.copy()
    hs, cs, hprev, cprev, gates, zg = [], [], [], [], [], []
    for t in range(tt):
        zz = x[t] @ k + h @ u + b
        i = _sig(zz[:hdim])
        f = _sig(zz[hdim:2 * hdim])
        g = np.tanh(zz[2 * hdim:3 * hdim])
        o = _sig(zz[3 * hdim:])
        hprev.append(h)
        cprev.append(c)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g))
        zg.append(zz[2 * hdim:3 * hdim])
    w_c, u_c, b_c = k[:, 2 * hdim:3 * hdim], u[:, 2 * hdim:3 * hdim], b[2 * hdim:3 * hdim]
    eye = np.eye(hdim)
    r_x = np.zeros_like(x)
    r_h = np.zeros(hdim)
    r_c = np.zeros(hdim)
    absorbed = 0.0
    for t in reversed(range(tt)):
        i, f, g = gates[t]
        r_h = r_h + r_out[t]
        r_c = r_c + r_h
        r_c_prev = _lrp_lin(f * cprev[t], eye, cs[t], r_c, eps)
        r_g = _lrp_lin(i * g, eye, cs[t], r_c, eps)
        absorbed += np.sum(eps * np.where(cs[t] >= 0, 1.0, -1.0) / _stab(cs[t], eps) * r_c)
        r_x[t] = _lrp_lin(x[t], w_c, zg[t], r_g, eps)
        r_h = _lrp_lin(hprev[t], u_c, zg[t], r_g, eps)
        absorbed += np.sum((b_c + eps * np.where(zg[t] >= 0, 1.0, -1.0)) / _stab(zg[t], eps) * r_g)
        r_c = r_c_prev
    return np.array(hs), r_x, absorbed, r_h.sum() + r_c.sum()


def _np_gru(weights, use_bias, reset_after, x, r_out, eps, h0=None):
    k, u = weights[0], weights[1]
    hdim = u.shape[0]
    if use_bias and reset_after:
        b_in, b_rec = weights[2][0], weights[2][1]
    elif use_bias:
        b_in, b_rec = weights[2], np.zeros(3 * hdim)
    else:
        b_in, b_rec = np.zeros(3 * hdim), np.zeros(3 * hdim)
    tt = x.shape[0]
    h = np.zeros(hdim) if h0 is None else h0.copy()
    trace = []
    hs = []
    sl = [slice(0, hdim), slice(hdim, 2 * hdim), slice(2 * hdim, 3 * hdim)]
    for t in range(tt):
        xz, xr, xh = (x[t] @ k[:, s] + b_in[s] for s in sl)
        z = _sig(xz + h @ u[:, sl[0]] + b_rec[sl[0]])
        r = _sig(xr + h @ u[:, sl[1]] + b_rec[sl[1]])
        if reset_after:
            sig = h @ u[:, sl[2]] + b_rec[sl[2]]
            a = xh + r * sig
        else:
            sig = None
            a = xh + (r * h) @ u[:, sl[2]]
        hh = np.tanh(a)
        h_new = z * h + (1 - z) * hh
        trace.append(dict(h_prev=h, h=h_new, z=z, r=r, hh=hh, a=a, sig=sig))
        h = h_new
        hs.append(h)
    w_h, u_h = k[:, sl[2]], u[:, sl[2]]
    bh_in, bh_rec = b_in[sl[2]], b_rec[sl[2]]
    eye = np.eye(hdim)
    r_x = np.zeros_like(x)
    r_h = np.zeros(hdim)
    absorbed = 0.0
    for t in reversed(range(tt)):
        tr = trace[t]
        r_h = r_h + r_out[t]
        r_h_prev = _lrp_lin(tr["z"] * tr["h_prev"], eye, tr["h"], r_h, eps)
        r_a = _lrp_lin((1 - tr["z"]) * tr["hh"], eye, tr["h"], r_h, eps)
        absorbed += np.sum(eps * np.where(tr["h"] >= 0, 1.0, -1.0) / _stab(tr["h"], eps) * r_h)
        r_x[t] = _lrp_lin(x[t], w_h, tr["a"], r_a, eps)
        absorbed += np.sum((bh_in + eps * np.where(tr["a"] >= 0, 1.0, -1.0)) / _stab(tr["a"], eps) * r_a)
        if reset_after:
            r_gated = _lrp_lin(tr["r"] * tr["sig"], eye, tr["a"], r_a, eps)  # -> signal
            r_h_prev = r_h_prev + _lrp_lin(tr["h_prev"], u_h, tr["sig"], r_gated, eps)
            absorbed += np.sum((bh_rec + eps * np.where(tr["sig"] >= 0, 1.0, -1.0))
                               / _stab(tr["sig"], eps) * r_gated)
        else:
            r_prod = _lrp_lin(tr["r"] * tr["h_prev"], u_h, tr["a"], r_a, eps)
            r_h_prev = r_h_prev + r_prod                                   # -> h
        r_h = r_h_prev
    return np.array(hs), r_x, absorbed, r_h.sum()


def _np_relevance(layer, x, r_out, eps, init=None):
    """Batch wrapper around the replica, handling go_backwards/return_sequences."""
    w = [np.asarray(v, np.float64) for v in layer.get_weights()]
    cell = layer.cell
    x = np.asarray(x, np.float64)
    r_out = np.asarray(r_out, np.float64)
    out = []
    for bi in range(x.shape[0]):
        xb = x[bi, ::-1] if layer.go_backwards else x[bi]
        if layer.return_sequences:
            rb = r_out[bi]
        else:
            rb = np.zeros((x.shape[1], cell.units))
            rb[-1] = r_out[bi]
        kw = {} if init is None else {k: np.asarray(v[bi], np.float64) for k, v in init.items()}
        if isinstance(layer, keras.layers.LSTM):
            hs, rx, ab, rinit = _np_lstm(w, cell.use_bias, xb, rb, eps, **kw)
        else:
            hs, rx, ab, rinit = _np_gru(w, cell.use_bias, cell.reset_after, xb, rb, eps, **kw)
        if layer.go_backwards:
            rx = rx[::-1]
        out.append((hs, rx, ab, rinit))
    hs, rx, ab, rinit = (np.array(v) for v in zip(*out))
    return hs, rx, ab, rinit


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


def _make(kind, return_sequences=False, go_backwards=False, reset_after=True,
          use_bias=True, seed=0, units=H, dim=D):
    rng = np.random.default_rng(seed)
    if kind == "lstm":
        layer = keras.layers.LSTM(units, return_sequences=return_sequences,
                                  go_backwards=go_backwards, use_bias=use_bias)
    else:
        layer = keras.layers.GRU(units, return_sequences=return_sequences,
                                 go_backwards=go_backwards, use_bias=use_bias,
                                 reset_after=reset_after)
    layer.build((None, None, dim))
    # Random (also non-zero bias) weights so that every term matters.
    layer.set_weights([rng.normal(0, 0.6, size=v.shape).astype("float32")
                       for v in layer.get_weights()])
    x = rng.normal(size=(B, T, dim)).astype("float32")
    return layer, x, rng


CONFIGS = [
    ("lstm", False, False, True),
    ("lstm", True, False, True),
    ("lstm", False, True, True),
    ("lstm", True, True, True),
    ("gru", False, False, True),
    ("gru", True, True, True),
    ("gru", False, True, False),
    ("gru", True, False, False),
]
IDS = [f"{k}-seq{int(s)}-back{int(g)}-ra{int(r)}" for k, s, g, r in CONFIGS]


def _fn(kind):
    return lstm_relevance if kind == "lstm" else gru_relevance


def _rout(layer, rng):
    shape = (B, T, layer.cell.units) if layer.return_sequences else (B, layer.cell.units)
    return rng.normal(size=shape).astype("float32")


# ---------------------------------------------------------------------------
# Forward: proves the gate order / bias layout
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind,seq,back,ra", CONFIGS, ids=IDS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_forward_matches_layer(kind, seq, back, ra, use_bias):
    layer, x, _ = _make(kind, seq, back, ra, use_bias=use_bias)
    y = layer(x).numpy()
    hs = recurrent_forward(layer, x).numpy()
    got = hs if seq else hs[:, -1]
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5)
    # The test's replica must agree with Keras too, or the comparisons below prove nothing.
    hs_np = _np_relevance(layer, x, _rout(layer, np.random.default_rng(1)), 1e-3)[0]
    np.testing.assert_allclose(hs_np if seq else hs_np[:, -1], y, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Relevance vs. the replica
# ---------------------------------------------------------------------------


def _rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)


@pytest.mark.parametrize("kind,seq,back,ra", CONFIGS, ids=IDS)
def test_matches_numpy_replica(kind, seq, back, ra):
    layer, x, rng = _make(kind, seq, back, ra)
    r_out = _rout(layer, rng)
    _, rx_np, ab_np, _ = _np_relevance(layer, x, r_out, 1e-3)
    assert np.abs(rx_np).max() > 1e-3  # non-trivial reference
    # float64 path: essentially exact.
    rx64, ab64 = _fn(kind)(layer, tf.constant(x, tf.float64), tf.constant(r_out, tf.float64),
                           epsilon=1e-3, return_bias_share=True)
    assert rx64.dtype == tf.float64
    np.testing.assert_allclose(rx64.numpy(), rx_np, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ab64.numpy(), ab_np, rtol=1e-9, atol=1e-12)
    # float32 path (what the engine uses): typically ~1e-6; the ε-rule divides
    # by pre-activations that can be ~ε after cancellation, which amplifies
    # float32 rounding of the forward pass (seen up to ~5e-5 over seeds).
    rx32 = _fn(kind)(layer, tf.constant(x), tf.constant(r_out), epsilon=1e-3)
    assert rx32.dtype == tf.float32 and rx32.shape == x.shape
    assert _rel_err(rx32.numpy(), rx_np) < 2e-4


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gates_take_no_relevance(kind):
    """Signal-take-all: for one step from a zero state, R(x) is the ε-rule of
    the candidate pre-activation alone, so the gate weights (LSTM i, f, o;
    GRU z, r; no bias) must not change it, although they change the output."""
    layer, x, rng = _make(kind, use_bias=False, seed=11)
    x1 = tf.constant(x[:, :1], tf.float64)
    w = layer.get_weights()
    r1 = _fn(kind)(layer, x1, tf.ones((B, H), tf.float64), epsilon=0.0).numpy()
    y1 = layer(x[:, :1]).numpy()
    gate_cols = ([slice(0, 2 * H), slice(3 * H, 4 * H)] if kind == "lstm"
                 else [slice(0, 2 * H)])
    for cols in gate_cols:
        w[0][:, cols] = rng.normal(0, 2.0, size=w[0][:, cols].shape)
    layer.set_weights(w)
    r2 = _fn(kind)(layer, x1, tf.ones((B, H), tf.float64), epsilon=0.0).numpy()
    assert not np.allclose(layer(x[:, :1]).numpy(), y1, atol=1e-3)
    np.testing.assert_allclose(r2, r1, rtol=1e-8, atol=1e-10)
    # ... and it is exactly the ε-rule of the candidate's linear map.
    k = w[0][:, 2 * H:3 * H] if kind == "lstm" else w[0][:, 2 * H:]
    x0, k = x[:, 0].astype(np.float64), k.astype(np.float64)
    want = np.stack([_lrp_lin(x0[i], k, x0[i] @ k, np.ones(H), 0.0) for i in range(B)])
    np.testing.assert_allclose(r2[:, 0], want, rtol=1e-8)


# ---------------------------------------------------------------------------
# Conservation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind,seq,back,ra", CONFIGS, ids=IDS)
def test_conservation(kind, seq, back, ra):
    layer, x, rng = _make(kind, seq, back, ra, seed=3)
    r_out = _rout(layer, rng)
    total = r_out.reshape(B, -1).sum(1)
    # Replica, float64, ε → 0: R(x) + bias share == R_out.
    _, rx_np, ab_np, rinit = _np_relevance(layer, x, r_out, 1e-9)
    np.testing.assert_allclose(rx_np.sum((1, 2)) + ab_np, total, rtol=1e-5)
    assert np.all(rinit == 0.0)  # zero initial state receives nothing
    # TF float64, ε → 0.
    rx, ab = _fn(kind)(layer, tf.constant(x, tf.float64), tf.constant(r_out, tf.float64),
                       epsilon=1e-9, return_bias_share=True)
    np.testing.assert_allclose(rx.numpy().sum((1, 2)) + ab.numpy(), total, rtol=1e-5)
    # TF float32, default ε: conservation holds exactly when the absorbed share counts.
    rx, ab = _fn(kind)(layer, x, r_out, return_bias_share=True)
    scale = np.abs(r_out).reshape(B, -1).sum(1)
    np.testing.assert_allclose(rx.numpy().sum((1, 2)) + ab.numpy(), total, atol=1e-4 * scale.max())


@pytest.mark.parametrize("kind,ra", [("lstm", True), ("gru", True), ("gru", False)])
def test_conservation_without_bias(kind, ra):
    """No bias and ε → 0: the input alone receives all relevance."""
    layer, x, rng = _make(kind, True, False, ra, use_bias=False, seed=5)
    r_out = _rout(layer, rng)
    rx = _fn(kind)(layer, tf.constant(x, tf.float64), tf.constant(r_out, tf.float64),
                   epsilon=1e-9)
    np.testing.assert_allclose(rx.numpy().sum((1, 2)), r_out.sum((1, 2)), rtol=1e-6)


def test_initial_state_relevance_is_dropped_and_counted():
    layer, x, rng = _make("lstm", True, seed=7)
    h0 = rng.normal(size=(B, H)).astype("float32")
    c0 = rng.normal(size=(B, H)).astype("float32")
    r_out = _rout(layer, rng)
    y = layer(x, initial_state=[h0, c0]).numpy()
    np.testing.assert_allclose(recurrent_forward(layer, x, [h0, c0]).numpy(), y, atol=1e-5)
    _, rx_np, ab_np, rinit = _np_relevance(layer, x, r_out, 1e-3, init={"h0": h0, "c0": c0})
    assert np.abs(rinit).min() > 0
    rx, ab = lstm_relevance(layer, tf.constant(x, tf.float64), tf.constant(r_out, tf.float64),
                            initial_state=[h0, c0], return_bias_share=True)
    np.testing.assert_allclose(rx.numpy(), rx_np, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ab.numpy(), ab_np + rinit, rtol=1e-9)

    gru, xg, rng = _make("gru", False, seed=8)
    h0 = rng.normal(size=(B, H)).astype("float32")
    r_out = _rout(gru, rng)
    _, rx_np, _, rinit = _np_relevance(gru, xg, r_out, 1e-3, init={"h0": h0})
    rx = gru_relevance(gru, tf.constant(xg, tf.float64), tf.constant(r_out, tf.float64),
                       initial_state=h0)
    np.testing.assert_allclose(rx.numpy(), rx_np, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Graph mode, unknown shapes, helpers, errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_tf_function_unknown_batch_and_time(kind):
    layer, x, rng = _make(kind, True, True)
    r_out = _rout(layer, rng)
    fn = _fn(kind)
    g = tf.function(lambda a, r: fn(layer, a, r),
                    input_signature=[tf.TensorSpec([None, None, D], tf.float32),
                                     tf.TensorSpec([None, None, H], tf.float32)])
    np.testing.assert_allclose(g(x, r_out).numpy(), fn(layer, x, r_out).numpy(), rtol=1e-5, atol=1e-7)
    assert g(x[:1, :3], r_out[:1, :3]).shape == (1, 3, D)


def test_eps_linear_is_conservative_without_bias():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6))
    w = rng.normal(size=(6, 3))
    z = x @ w
    r = rng.normal(size=(2, 3))
    got = eps_linear(tf.constant(x), tf.constant(w), tf.constant(z), tf.constant(r), 0.0).numpy()
    want = np.stack([_lrp_lin(x[i], w, z[i], r[i], 0.0) for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got.sum(1), r.sum(1), rtol=1e-10)
    assert float(recurrent.stabilize(tf.constant(0.0), 1e-3)) == pytest.approx(1e-3)


def test_errors_name_the_layer():
    dense = keras.layers.Dense(3, name="not_rnn")
    dense.build((None, 4))
    with pytest.raises(ValueError, match="not_rnn"):
        lstm_relevance(dense, np.zeros((1, 2, 4), "float32"), np.zeros((1, 3), "float32"))
    gru, x, _ = _make("gru")
    with pytest.raises(ValueError, match=gru.name):
        lstm_relevance(gru, x, np.zeros((B, H), "float32"))
    unbuilt = keras.layers.LSTM(3, name="unbuilt_lstm")
    with pytest.raises(ValueError, match="unbuilt_lstm.*not built"):
        lstm_relevance(unbuilt, x, np.zeros((B, 3), "float32"))
    srnn = keras.layers.SimpleRNN(3, name="simple_rnn_x")
    srnn.build((None, T, D))
    with pytest.raises(ValueError, match="simple_rnn_x"):
        recurrent_forward(srnn, x)
    seq, x, _ = _make("lstm", return_sequences=True)
    with pytest.raises(ValueError, match="return_sequences=True"):
        lstm_relevance(seq, x, np.zeros((B, H), "float32"))
    with pytest.raises(ValueError, match="initial_state"):
        lstm_relevance(seq, x, np.zeros((B, T, H), "float32"), initial_state=[np.zeros((B, H))])


def test_rnn_wrapper_with_lstm_cell_is_accepted():
    rnn = keras.layers.RNN(keras.layers.LSTMCell(H))
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
    y = rnn(x).numpy()
    np.testing.assert_allclose(recurrent_forward(rnn, x).numpy()[:, -1], y, atol=1e-5)
    assert lstm_relevance(rnn, x, y).shape == x.shape


def test_bidirectional_decomposition_convention():
    """How a caller explains keras.layers.Bidirectional with these functions:
    Bidirectional flips the backward layer's sequence output back to input
    order, so its relevance slice must be flipped to processing order."""
    bidi = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True))
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    out = bidi(x).numpy()
    fwd, bwd = bidi.forward_layer, bidi.backward_layer
    assert bwd.go_backwards
    np.testing.assert_allclose(recurrent_forward(bwd, x).numpy()[:, ::-1], out[..., H:], atol=1e-5)
    r_f, a_f = lstm_relevance(fwd, x, out[..., :H], return_bias_share=True)
    r_b, a_b = lstm_relevance(bwd, x, out[..., H:][:, ::-1], return_bias_share=True)
    np.testing.assert_allclose((r_f + r_b).numpy().sum((1, 2)) + a_f + a_b,
                               out.sum((1, 2)), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------
# Text-like sanity check
# ---------------------------------------------------------------------------


def test_lstm_finds_the_trigger_token():
    """Embedding -> LSTM -> Dense trained to detect token 1: relevance of a
    positive sequence peaks at the position of that token."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    vocab, steps, n = 12, 10, 1536
    seqs = rng.integers(2, vocab, size=(n, steps))
    labels = rng.integers(0, 2, size=n)
    pos = rng.integers(0, steps, size=n)
    seqs[labels == 1, pos[labels == 1]] = 1
    emb = keras.layers.Embedding(vocab, 8)
    lstm = keras.layers.LSTM(16)
    dense = keras.layers.Dense(1)
    model = keras.Sequential([keras.Input((steps,), dtype="int32"), emb, lstm, dense])
    model.compile(keras.optimizers.Adam(0.02),
                  keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(seqs, labels, batch_size=64, epochs=5, verbose=0)

    test = rng.integers(2, vocab, size=(200, steps))
    tpos = rng.integers(0, steps, size=200)
    test[np.arange(200), tpos] = 1
    acc = np.mean(model.predict(test, verbose=0)[:, 0] > 0)
    assert acc > 0.95, f"model did not learn the task (acc={acc})"

    e = emb(test)
    h = lstm(e)
    w = dense.kernel.numpy()[:, 0]
    r_h = h * w  # relevance of h for the logit (ε → 0, bias share dropped)
    r = lstm_relevance(lstm, e, r_h).numpy().sum(-1)  # [200, steps]
    hit = np.mean(np.argmax(r, axis=1) == tpos)
    assert hit > 0.9, f"relevance peaked on the trigger token only {hit:.0%} of the time"

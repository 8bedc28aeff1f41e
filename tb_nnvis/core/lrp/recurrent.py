"""LRP for recurrent layers (Keras 3 ``LSTM`` and ``GRU``).

Implements the propagation rules of Arras et al. 2017 ("Explaining Recurrent
Neural Network Predictions in Sentiment Analysis") and Arras et al. 2019
("Explaining and Interpreting LSTMs"):

* **Linear maps** (the gate pre-activations ``z = W x + U h + b``) use the
  ε-rule: ``R(x)_d = sum_j x_d W_dj / (z_j + ε·sign(z_j)) · R_j`` and
  likewise for ``h``.  ``sign(0) = +1``.  The bias and the stabiliser keep
  their share ``(b_j + ε·sign(z_j)) / (z_j + ε·sign(z_j)) · R_j`` (it is
  "absorbed"; the reference implementation's ``bias_factor=0``).
* **Sums of gated terms** (``c_t = f⊙c_{t-1} + i⊙g``, ``h_t = z⊙h_{t-1} +
  (1-z)⊙hh``) use the same ε-rule with the identity as weights, each summand
  being one "input".
* **Multiplicative gates** use *signal-take-all*: the sigmoid gate gets no
  relevance, the signal it multiplies gets all of it.
* **Element-wise activations** (``tanh`` or whatever ``activation`` is) pass
  relevance unchanged.

Exact definitions, per time step ``t`` (processing order), with
``stab(v) = v + ε·sign(v)``:

LSTM (Keras gate order ``[i, f, c, o]`` in the kernel columns)::

    i, f, o = σ(...)                  g  = tanh(z_g),  z_g = W_c x_t + U_c h_{t-1} + b_c
    c_t = f⊙c_{t-1} + i⊙g             h_t = o⊙tanh(c_t)

    R(c_t)     = R(c_t)[from t+1] + R(h_t)              (o takes none, tanh passes)
    R(c_{t-1}) = f⊙c_{t-1} / stab(c_t) · R(c_t)
    R(z_g)     = i⊙g       / stab(c_t) · R(c_t)         (i takes none)
    R(x_t)     = ε-rule of z_g onto x_t   (weights W_c)
    R(h_{t-1}) = ε-rule of z_g onto h_{t-1} (weights U_c) [+ R_out[t-1]]

GRU (Keras gate order ``[z, r, h]``)::

    h_t = z⊙h_{t-1} + (1-z)⊙hh,   hh = tanh(a)
    reset_after=True  (default; bias shape (2, 3H) = [input bias; recurrent bias]):
        a = (W_h x_t + b_h) + r⊙(U_h h_{t-1} + b'_h)
    reset_after=False (bias shape (3H,)):
        a = W_h x_t + U_h (r⊙h_{t-1}) + b_h

    R(h_{t-1}) += z⊙h_{t-1}   / stab(h_t) · R(h_t)       (z takes none)
    R(a)        = (1-z)⊙hh   / stab(h_t) · R(h_t)
    reset_after=True:
        ε-rule of a over its summands W_h x_t, b_h and q = r⊙(U_h h + b'_h):
        R(x_t) from W_h;  R(q) = q / stab(a) · R(a)  goes entirely to the
        signal s = U_h h_{t-1} + b'_h (r takes none);  then the ε-rule of s
        (denominator stab(s)) onto h_{t-1}, b'_h absorbing its share.
    reset_after=False:
        ε-rule of a onto x_t (W_h) and onto the product r⊙h_{t-1} (U_h);
        the product's relevance goes entirely to h_{t-1} (signal-take-all).

Relevance arriving at ``h_{t-1}`` (and ``c_{t-1}``) continues backwards; with
``return_sequences=True`` the output relevance of step ``t-1`` is added to
``R(h_{t-1})``.  The relevance reaching the initial state is dropped (zero
anyway when ``initial_state`` is ``None``, since ``h_0 = c_0 = 0``).

Conservation: every local rule is exactly conservative once the absorbed
shares (biases and ε-stabilisers) are counted, so
``sum R(x) + absorbed == sum R_out`` (``return_bias_share=True`` exposes
``absorbed``).  Without biases and with ε → 0, ``sum R(x) → sum R_out``.

Scope and conventions:

* Computation happens in float64 if ``x`` is float64, otherwise in float32;
  the result has ``x``'s dtype.
* ``go_backwards=True``: Keras consumes ``x`` reversed and returns its
  sequence output in *processing* order (``out[:, s]`` belongs to input
  ``x[:, T-1-s]``).  ``relevance_out`` is expected in that same order (the
  order of the layer's output); the returned ``R(x)`` is in ``x``'s order.
* Masks are out of scope (a masked step is treated as a normal step);
  dropout is ignored (inference); stateful layers are explained from
  ``initial_state`` (zeros by default), not from their stored state.
* Works inside ``tf.function`` with unknown batch size and unknown ``T``
  (the time loop is a ``tf.scan``).

The module depends on tensorflow only (no keras import: layers are duck-typed); the cells' weight
layout is read by :mod:`tb_nnvis.core.cells`, shared with the RNN traces.
"""

import tensorflow as tf

from tb_nnvis.core.cells import cell_kind
from tb_nnvis.core.cells import gru_weights as _gru_weights
from tb_nnvis.core.cells import lstm_weights as _lstm_weights

__all__ = [
    "stabilize",
    "eps_linear",
    "lstm_relevance",
    "gru_relevance",
    "recurrent_forward",
]


# ---------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------


def stabilize(z, epsilon):
    """Return ``z + ε·sign(z)`` with ``sign(0) = +1`` (never zero for ε > 0).

    >>> float(stabilize(tf.constant(0.0), 0.5))
    0.5
    >>> float(stabilize(tf.constant(-2.0), 0.5))
    -2.5
    """
    return z + epsilon * tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))


def eps_linear(x, w, z, relevance, epsilon=1e-3):
    """ε-rule for the linear map ``z = x @ w (+ other terms)``.

    Returns ``R(x)_d = sum_j x_d w_dj / stab(z_j) · R_j``.  ``z`` is the full
    pre-activation (it may contain other inputs and a bias, whose shares are
    not returned).  Shapes: ``x [..., D]``, ``w [D, M]``, ``z`` and
    ``relevance [..., M]``.

    >>> x = tf.constant([[1.0, 2.0]]); w = tf.constant([[1.0], [1.0]])
    >>> r = eps_linear(x, w, x @ w, tf.constant([[6.0]]), epsilon=0.0)
    >>> r.numpy().tolist()
    [[2.0, 4.0]]
    """
    s = relevance / stabilize(z, epsilon)
    return x * tf.linalg.matmul(s, w, transpose_b=True)


# ---------------------------------------------------------------------------
# Layer inspection
# ---------------------------------------------------------------------------


def _cell_kind(layer):
    """'lstm' / 'gru' (the cells these rules cover), else None."""
    kind = cell_kind(layer)
    return kind if kind in ("lstm", "gru") else None


def _check_layer(layer, kind):
    name = getattr(layer, "name", repr(layer))
    found = _cell_kind(layer)
    if found != kind:
        raise ValueError(
            f"Layer {name!r}: expected a keras {kind.upper()} layer (or an "
            f"RNN wrapping a {kind.upper()}Cell), got {type(layer).__name__}"
            f" with cell {type(getattr(layer, 'cell', None)).__name__}."
        )
    cell = layer.cell
    if getattr(cell, "kernel", None) is None:
        raise ValueError(f"Layer {name!r} is not built; call it on an input first.")
    return name, cell


def _compute_dtype(x):
    return tf.float64 if x.dtype == tf.float64 else tf.float32


def _prepare_input(layer, x, name):
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 3:
        raise ValueError(f"Layer {name!r}: x must be [batch, time, features], got shape {x.shape}.")
    out_dtype = x.dtype
    dtype = _compute_dtype(x)
    x = tf.cast(x, dtype)
    if getattr(layer, "go_backwards", False):
        x = tf.reverse(x, axis=[1])
    return x, dtype, out_dtype


def _initial_states(initial_state, batch, units, dtype, n_states, name):
    if initial_state is None:
        zeros = tf.zeros(tf.stack([batch, units]), dtype=dtype)
        return [zeros] * n_states
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    if len(states) != n_states:
        raise ValueError(
            f"Layer {name!r}: initial_state needs {n_states} tensor(s), got {len(states)}."
        )
    return [tf.cast(tf.convert_to_tensor(s), dtype) for s in states]


def _time_major_relevance(layer, relevance_out, x, dtype, name):
    """Output relevance as a time-major ``[T, B, H]`` tensor (processing order)."""
    r = tf.cast(tf.convert_to_tensor(relevance_out), dtype)
    t_steps = tf.shape(x)[1]
    if getattr(layer, "return_sequences", False):
        if r.shape.rank != 3:
            raise ValueError(
                f"Layer {name!r} has return_sequences=True: relevance_out must be "
                f"[batch, time, units], got shape {r.shape}."
            )
        return tf.transpose(r, [1, 0, 2])
    if r.shape.rank != 2:
        raise ValueError(
            f"Layer {name!r} has return_sequences=False: relevance_out must be "
            f"[batch, units], got shape {r.shape}."
        )
    # Only the last processed step receives output relevance.
    zeros = tf.zeros(tf.concat([[t_steps - 1], tf.shape(r)], 0), dtype=dtype)
    return tf.concat([zeros, r[None]], axis=0)


def _finish(layer, s_seq, x, w_in, absorbed_steps, r_init, out_dtype, return_bias_share):
    """Input relevance from the per-step ε-ratios ``s`` (time-major)."""
    s = tf.transpose(s_seq, [1, 0, 2])  # [B, T, H]
    r_x = x * tf.einsum("bth,dh->btd", s, w_in)
    if getattr(layer, "go_backwards", False):
        r_x = tf.reverse(r_x, axis=[1])
    r_x = tf.cast(r_x, out_dtype)
    if not return_bias_share:
        return r_x
    absorbed = tf.reduce_sum(absorbed_steps, axis=0) + r_init
    return r_x, tf.cast(absorbed, out_dtype)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


def _lstm_forward(layer, x, initial_state, name):
    """Forward pass over the (already direction-adjusted) ``x``; time-major traces."""
    cell = layer.cell
    dtype = x.dtype
    units, k, u, b = _lstm_weights(cell, dtype)
    act, rec_act = cell.activation, cell.recurrent_activation
    h0, c0 = _initial_states(initial_state, tf.shape(x)[0], units, dtype, 2, name)
    xw = tf.transpose(tf.einsum("btd,dk->btk", x, k) + b, [1, 0, 2])  # [T, B, 4H]

    def step(carry, xw_t):
        h_prev, c_prev = carry[0], carry[1]
        zz = xw_t + tf.linalg.matmul(h_prev, u)
        z_i, z_f, z_g, z_o = tf.split(zz, 4, axis=-1)
        i, f, o = rec_act(z_i), rec_act(z_f), rec_act(z_o)
        g = act(z_g)
        fc = f * c_prev
        ig = i * g
        c = fc + ig
        h = o * act(c)
        return (h, c, h_prev, fc, ig, z_g)

    init = (h0, c0, h0, c0, c0, c0)
    h_seq, c_seq, h_prev_seq, fc_seq, ig_seq, zg_seq = tf.scan(step, xw, initializer=init)
    return dict(
        h=h_seq, c=c_seq, h_prev=h_prev_seq, fc=fc_seq, ig=ig_seq, zg=zg_seq,
        k=k, u=u, b=b, units=units,
    )


def lstm_relevance(layer, x, relevance_out, epsilon=1e-3, initial_state=None,
                   return_bias_share=False):
    """LRP (Arras et al.) of a Keras ``LSTM`` layer: relevance of its input.

    Args:
        layer: a built ``keras.layers.LSTM`` (or ``keras.layers.RNN`` with an
            ``LSTMCell``).
        x: the layer's input, ``[B, T, D]``.
        relevance_out: relevance of the layer's first output: ``[B, H]``
            (last hidden state) or ``[B, T, H]`` if ``return_sequences``, in
            the order of the layer's output (see module doc on
            ``go_backwards``).
        epsilon: ε of the ε-rule (also used for the ``c_t`` split).
        initial_state: ``None`` (zeros) or ``[h0, c0]``; the relevance
            reaching it is dropped from ``R(x)``.
        return_bias_share: also return ``absorbed [B]``: relevance absorbed
            by the biases and ε-stabilisers plus the relevance reaching the
            initial state, so ``sum R(x) + absorbed == sum R_out``.

    Returns:
        ``R(x)`` with shape and dtype of ``x`` (and ``absorbed`` if asked).

    Example:
        >>> import keras, numpy as np
        >>> lstm = keras.layers.LSTM(4)
        >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
        >>> h = lstm(x)
        >>> r = lstm_relevance(lstm, x, h)        # explain h itself
        >>> tuple(r.shape)
        (2, 5, 3)
    """
    name, _ = _check_layer(layer, "lstm")
    x, dtype, out_dtype = _prepare_input(layer, x, name)
    fw = _lstm_forward(layer, x, initial_state, name)
    units, u, b = fw["units"], fw["u"], fw["b"]
    w_c = fw["k"][:, 2 * units:3 * units]
    u_c = u[:, 2 * units:3 * units]
    b_c = b[2 * units:3 * units]
    r_out = _time_major_relevance(layer, relevance_out, x, dtype, name)
    eps = tf.constant(epsilon, dtype)

    def back(carry, elems):
        r_h_next, r_c_next = carry[0], carry[1]
        r_out_t, c_t, h_prev, fc, ig, zg = elems
        r_c = r_c_next + r_h_next + r_out_t          # o takes none, tanh passes
        sc = r_c / stabilize(c_t, eps)
        r_c_prev = fc * sc
        r_g = ig * sc                                 # i takes none
        s = r_g / stabilize(zg, eps)                  # ε-ratio of z_g
        r_h_prev = h_prev * tf.linalg.matmul(s, u_c, transpose_b=True)
        # Shares kept by the ε of the c-split and by b_c (+ ε) of z_g.
        absorbed = tf.reduce_sum(sc * (stabilize(c_t, eps) - c_t), -1) + tf.reduce_sum(
            s * (b_c + (stabilize(zg, eps) - zg)), -1)
        return (r_h_prev, r_c_prev, s, absorbed)

    zeros_bh = tf.zeros_like(fw["h"][0])
    init = (zeros_bh, zeros_bh, zeros_bh, tf.zeros_like(zeros_bh[:, 0]))
    r_h_seq, r_c_seq, s_seq, abs_seq = tf.scan(
        back, (r_out, fw["c"], fw["h_prev"], fw["fc"], fw["ig"], fw["zg"]),
        initializer=init, reverse=True)
    r_init = tf.reduce_sum(r_h_seq[0] + r_c_seq[0], -1)
    return _finish(layer, s_seq, x, w_c, abs_seq, r_init, out_dtype, return_bias_share)


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


def _gru_forward(layer, x, initial_state, name):
    cell = layer.cell
    dtype = x.dtype
    units, k, u, b_in, b_rec = _gru_weights(cell, dtype)
    reset_after = bool(cell.reset_after)
    act, rec_act = cell.activation, cell.recurrent_activation
    (h0,) = _initial_states(initial_state, tf.shape(x)[0], units, dtype, 1, name)
    xw = tf.transpose(tf.einsum("btd,dk->btk", x, k) + b_in, [1, 0, 2])  # [T, B, 3H]
    u_zr, u_h = u[:, :2 * units], u[:, 2 * units:]
    b_rec_zr, b_rec_h = b_rec[:2 * units], b_rec[2 * units:]

    def step(carry, xw_t):
        h_prev = carry[0]
        x_z, x_r, x_h = tf.split(xw_t, 3, axis=-1)
        rec_z, rec_r = tf.split(tf.linalg.matmul(h_prev, u_zr) + b_rec_zr, 2, axis=-1)
        z = rec_act(x_z + rec_z)
        r = rec_act(x_r + rec_r)
        if reset_after:
            sig = tf.linalg.matmul(h_prev, u_h) + b_rec_h    # signal gated by r
            a = x_h + r * sig
        else:
            sig = r * h_prev                                 # gated signal, fed to U_h
            a = x_h + tf.linalg.matmul(sig, u_h)
        hh = act(a)
        zh = z * h_prev
        nh = (1.0 - z) * hh
        h = zh + nh
        return (h, h_prev, zh, nh, r, sig, a)

    zero = tf.zeros_like(h0)
    init = (h0, zero, zero, zero, zero, zero, zero)
    h_seq, h_prev, zh, nh, r, sig, a = tf.scan(step, xw, initializer=init)
    return dict(h=h_seq, h_prev=h_prev, zh=zh, nh=nh, r=r, sig=sig, a=a, k=k, u_h=u_h,
                b_in_h=b_in[2 * units:], b_rec_h=b_rec_h, units=units,
                reset_after=reset_after)


def gru_relevance(layer, x, relevance_out, epsilon=1e-3, initial_state=None,
                  return_bias_share=False):
    """LRP (Arras et al. rules) of a Keras ``GRU`` layer: relevance of its input.

    Supports ``reset_after`` both ways (see the module docstring for the
    exact rules).  Arguments and return values as for :func:`lstm_relevance`;
    ``initial_state`` is ``None`` or ``h0`` (a tensor or a one-element list).

    Example:
        >>> import keras, numpy as np
        >>> gru = keras.layers.GRU(4, return_sequences=True)
        >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
        >>> out = gru(x)
        >>> r, absorbed = gru_relevance(gru, x, out, return_bias_share=True)
        >>> bool(np.allclose(r.numpy().sum((1, 2)) + absorbed.numpy(),
        ...                  out.numpy().sum((1, 2)), atol=1e-4))
        True
    """
    name, _ = _check_layer(layer, "gru")
    x, dtype, out_dtype = _prepare_input(layer, x, name)
    fw = _gru_forward(layer, x, initial_state, name)
    units, u_h = fw["units"], fw["u_h"]
    w_h = fw["k"][:, 2 * units:]
    b_in_h, b_rec_h = fw["b_in_h"], fw["b_rec_h"]
    reset_after = fw["reset_after"]
    r_out = _time_major_relevance(layer, relevance_out, x, dtype, name)
    eps = tf.constant(epsilon, dtype)

    def back(carry, elems):
        r_h_next = carry[0]
        r_out_t, h_t, h_prev, zh, nh, r, sig, a = elems
        r_h = r_h_next + r_out_t
        sh = r_h / stabilize(h_t, eps)
        r_h_prev = zh * sh                               # z takes none
        r_a = nh * sh                                    # tanh passes
        absorbed = tf.reduce_sum(sh * (stabilize(h_t, eps) - h_t), -1)
        s = r_a / stabilize(a, eps)                      # ε-ratio of a
        if reset_after:
            # a = W_h x + b_h + r⊙sig: the gated summand's share goes to sig.
            r_sig = (r * sig) * s
            s2 = r_sig / stabilize(sig, eps)
            r_h_prev += h_prev * tf.linalg.matmul(s2, u_h, transpose_b=True)
            absorbed += tf.reduce_sum(s * (b_in_h + (stabilize(a, eps) - a)), -1)
            absorbed += tf.reduce_sum(s2 * (b_rec_h + (stabilize(sig, eps) - sig)), -1)
        else:
            # a = W_h x + U_h (r⊙h) + b_h: the product's share goes to h.
            r_h_prev += sig * tf.linalg.matmul(s, u_h, transpose_b=True)
            absorbed += tf.reduce_sum(s * (b_in_h + (stabilize(a, eps) - a)), -1)
        return (r_h_prev, s, absorbed)

    zero = tf.zeros_like(fw["h"][0])
    init = (zero, zero, tf.zeros_like(zero[:, 0]))
    r_h_seq, s_seq, abs_seq = tf.scan(
        back, (r_out, fw["h"], fw["h_prev"], fw["zh"], fw["nh"], fw["r"], fw["sig"], fw["a"]),
        initializer=init, reverse=True)
    r_init = tf.reduce_sum(r_h_seq[0], -1)
    return _finish(layer, s_seq, x, w_h, abs_seq, r_init, out_dtype, return_bias_share)


# ---------------------------------------------------------------------------
# Forward replica (for checking the gate layout against the layer itself)
# ---------------------------------------------------------------------------


def recurrent_forward(layer, x, initial_state=None):
    """The hidden states ``h_t`` as recomputed by this module, ``[B, T, H]``.

    The sequence is in the layer's output order (processing order, i.e.
    reversed w.r.t. ``x`` when ``go_backwards``), so it equals
    ``layer(x)`` for ``return_sequences=True`` and its last step equals it
    otherwise.  Used to prove that the gate order and bias layout the
    relevance rules rely on match Keras.

    >>> import keras, numpy as np
    >>> gru = keras.layers.GRU(3, return_sequences=True)
    >>> x = np.ones((1, 4, 2), "float32")
    >>> out = gru(x)
    >>> bool(np.allclose(recurrent_forward(gru, x), out, atol=1e-6))
    True
    """
    kind = _cell_kind(layer)
    if kind is None:
        raise ValueError(
            f"Layer {getattr(layer, 'name', repr(layer))!r}: expected a keras LSTM or GRU "
            f"layer, got {type(layer).__name__}."
        )
    name, _ = _check_layer(layer, kind)
    x, _, out_dtype = _prepare_input(layer, x, name)
    fw = (_lstm_forward if kind == "lstm" else _gru_forward)(layer, x, initial_state, name)
    return tf.cast(tf.transpose(fw["h"], [1, 0, 2]), out_dtype)

"""What a Keras 3 recurrent cell is and how its weights are laid out, read in one place.

Shared by the LRP rules for recurrent layers (:mod:`tb_nnvis.core.lrp.recurrent`) and the per-timestep
traces of the RNN cells tab (:mod:`tb_nnvis.core.rnn`). Depends on TensorFlow only: layers are
duck-typed by their cell's class hierarchy, so subclasses of ``LSTMCell``/``GRUCell`` are recognised.

Keras's layouts (checked against the layers' own outputs in the tests):

- ``LSTMCell``: kernel ``[D, 4H]``, recurrent kernel ``[H, 4H]``, bias ``[4H]``, gate columns in the
  order input ``i``, forget ``f``, candidate ``c`` (``g``), output ``o``.
- ``GRUCell``: columns update ``z``, reset ``r``, candidate ``h``; the bias is ``[2, 3H]`` (input bias;
  recurrent bias) with ``reset_after=True`` (the default), ``[3H]`` otherwise.
- ``SimpleRNNCell``: kernel ``[D, H]``, recurrent kernel ``[H, H]``, bias ``[H]``.

>>> import keras
>>> lstm = keras.layers.LSTM(3); _ = lstm(np.zeros((1, 2, 4), "float32"))
>>> cell_kind(lstm), [tuple(w.shape) for w in lstm_weights(lstm.cell, tf.float32)[1:]]
('lstm', [(4, 12), (3, 12), (12,)])
"""
import numpy as np  # noqa: F401  (doctest)
import tensorflow as tf

__all__ = ["cell_kind", "cell_weights", "lstm_weights", "gru_weights", "simple_rnn_weights"]

_KINDS = (("LSTMCell", "lstm"), ("GRUCell", "gru"), ("SimpleRNNCell", "simple_rnn"))


def cell_kind(layer):
    """``"lstm"``, ``"gru"``, ``"simple_rnn"`` from the class hierarchy of ``layer.cell``, else None."""
    cell = getattr(layer, "cell", None)
    names = {c.__name__ for c in type(cell).__mro__} if cell is not None else set()
    for class_name, kind in _KINDS:
        if class_name in names:
            return kind
    return None


def cell_weights(cell, dtype):
    """``(kernel, recurrent kernel, bias or None)`` of a built cell, as tensors of ``dtype``."""
    def cast(v):
        return tf.cast(tf.convert_to_tensor(v), dtype)

    bias = cast(cell.bias) if cell.use_bias and cell.bias is not None else None
    return cast(cell.kernel), cast(cell.recurrent_kernel), bias


def lstm_weights(cell, dtype):
    """``(units, kernel [D, 4H], recurrent kernel [H, 4H], bias [4H])``; a missing bias is zeros."""
    h = cell.units
    k, u, b = cell_weights(cell, dtype)
    if b is None:
        b = tf.zeros([4 * h], dtype)
    return h, k, u, b


def gru_weights(cell, dtype):
    """``(units, kernel [D, 3H], recurrent kernel [H, 3H], input bias [3H], recurrent bias [3H])``.

    With ``reset_after=False`` the recurrent bias is zeros (Keras has one bias then); no bias: zeros.
    """
    h = cell.units
    k, u, b = cell_weights(cell, dtype)
    if b is not None:
        if cell.reset_after:
            b_in, b_rec = b[0], b[1]
        else:
            b_in, b_rec = b, tf.zeros([3 * h], dtype)
    else:
        b_in = b_rec = tf.zeros([3 * h], dtype)
    return h, k, u, b_in, b_rec


def simple_rnn_weights(cell, dtype):
    """``(units, kernel [D, H], recurrent kernel [H, H], bias [H])``; a missing bias is zeros."""
    h = cell.units
    k, u, b = cell_weights(cell, dtype)
    return h, k, u, (tf.zeros([h], dtype) if b is None else b)

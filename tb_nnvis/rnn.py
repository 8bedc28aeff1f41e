"""RNN cells over text, usable without TensorBoard: per-timestep traces of LSTM/GRU/SimpleRNN layers and
the searches of the RNN cells tab (span selection, pattern search, gate saturation).

>>> import keras, numpy as np
>>> from tb_nnvis import rnn
>>> model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(30, 8),
...                           keras.layers.GRU(4, return_sequences=True, name="gru")])
>>> t = rnn.traces(model, np.array([[1, 2, 3]]))
>>> sorted(t["gru"]), t["gru"]["hidden"].shape
(['candidate', 'hidden', 'reset_gate', 'update_gate'], (1, 3, 4))
"""
from tb_nnvis.core.rnn.search import (  # noqa: F401
    match_spans,
    pattern_track,
    rank_pattern,
    rank_span,
    saturation,
)
from tb_nnvis.core.rnn.traces import TRACE_KINDS, cell_traces, list_recurrent, traces  # noqa: F401

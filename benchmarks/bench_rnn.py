"""RNN traces speed benchmark (not a test). Run: ``python benchmarks/bench_rnn.py``.

Trace extraction for 10,000 characters (10 probe texts of 1,000 characters) through a 256-unit LSTM
(embedding 64, vocabulary 100): the time of ``tb_nnvis.rnn.traces`` (hidden, cell and all four gates
at every step, compiled) divided by the time of the layer's own forward pass on the same input, also
compiled with ``tf.function``, measured in the same run after warm-up (best of several rounds: 2-core
timings swing). Also the encoding of one written step (8-bit quantisation and zlib) against the same
forward pass. Goal: traces at most 2x the forward pass.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_nnvis.core.rnn.traces import Tracer  # noqa: E402
from tb_nnvis.plugins.rnn import encoding  # noqa: E402

PROBES, LENGTH, UNITS, VOCAB = 10, 1000, 256, 100


def best(fn, rounds=7):
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    keras.utils.set_random_seed(0)
    inp = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, 64, name="embed")
    lstm = keras.layers.LSTM(UNITS, return_sequences=True, name="lstm")
    model = keras.Model(inp, keras.layers.Dense(VOCAB)(lstm(emb(inp))))
    ids = np.random.default_rng(0).integers(0, VOCAB, (PROBES, LENGTH)).astype("int32")
    x = emb(ids)
    forward = tf.function(lambda v: lstm(v, training=False))
    tracer = Tracer(model, ["lstm"])
    run_forward = lambda: forward(x).numpy()  # noqa: E731
    run_traces = lambda: tracer(ids)  # noqa: E731 - includes the embedding (a lookup) and copying to numpy
    t_forward, t_traces = best(run_forward), best(run_traces)
    traces = tracer(ids)["lstm"]
    np.testing.assert_allclose(traces["hidden"], run_forward(), atol=1e-5)
    tokens = [["a"] * LENGTH] * PROBES
    t_encode = best(lambda: encoding.encode_traces(tokens, traces), rounds=3)
    size = sum(len(b) for b in encoding.encode_traces(tokens, traces))
    print(f"LSTM({UNITS}) over {PROBES}x{LENGTH} = {PROBES * LENGTH} characters, best of 7 rounds")
    print(f"  layer forward (tf.function):     {t_forward * 1e3:8.1f} ms")
    print(f"  traces (6 kinds, tf.function):   {t_traces * 1e3:8.1f} ms   ratio {t_traces / t_forward:.2f}x (goal <= 2x)")
    print(f"  encode one step (8-bit + zlib):  {t_encode * 1e3:8.1f} ms   ratio {t_encode / t_forward:.2f}x, "
          f"{size / 1e6:.2f} MB for 6 x {PROBES * LENGTH} x {UNITS} values")


if __name__ == "__main__":
    main()

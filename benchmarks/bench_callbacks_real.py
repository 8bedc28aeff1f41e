"""Every tb_nnvis callback at its defaults on real models: bytes and time of a written step, and the fit ratio.

    python benchmarks/bench_callbacks_real.py [--repeats 2] [--cases relevance:mobilenetv2,rnn:char_lstm]
                                              [--epochs 3] [--batches 16]

Models, weights=None and random inputs, 10 classes, trained ``--epochs`` epochs of ``--batches`` batches of
32: ``keras.applications`` MobileNetV2 at 96×96 and ResNet50 at 64×64, and a character LSTM (embedding
64, two LSTM layers of 256 cells, next-character output over 99 characters, sequences of 100 characters
of Python's own sources). Callbacks as a new user writes them, every other argument at its default:

- ``ActivationsCallback(log_dir, probes=x[:8])``
- ``RelevanceCallback(log_dir, probes=x[:8], labels=y[:8])``
- ``FeatureVisCallback(log_dir, layers=["block_3_project_BN"])`` (32 units at 96×96, 256 steps)
- ``RNNCellsCallback(log_dir, probe_texts=<the demo's 3 texts, 141-177 characters>, vocabulary=chars)``

Prints for each case:

- bytes per written step (the run's event file / written steps; the one-off probe images included);
- seconds on the training thread: ``setup`` (builds what the writes use), the first write (the state before
  training; it traces the compiled passes), the median of the later writes, and the drain at the end of
  ``fit`` (waiting for the worker thread); a later write as a fraction of a training epoch and in training
  batches (epoch and batch times from the plain fits' last epoch);
- ``fit`` with the callback / plain ``fit``: medians of ``--repeats`` rounds of fresh models that alternate
  the order, after one plain warm-up fit (goal for Activations: <= 1.05); the callback's time on the
  training thread in all (setup, writes, drain) as a share of the plain fit, which a busy machine blurs less;
  and the CPU time of the whole process (every thread: training, the writer, tracing) with / without.

The machine's load average is printed at the start and the end: compare ratios within one run only.
"""
import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_MODELS = {"mobilenetv2": ("MobileNetV2", 96), "resnet50": ("ResNet50", 64)}
BATCH, SEQ = 32, 100
FEATVIS_LAYER = {"mobilenetv2": "block_3_project_BN", "resnet50": "conv2_block1_out"}
CASES = ["activations:mobilenetv2", "activations:resnet50", "relevance:mobilenetv2", "relevance:resnet50",
         "featvis:mobilenetv2", "rnn:char_lstm"]


def build(model_name):
    keras.utils.set_random_seed(0)
    if model_name == "char_lstm":
        from demo.char_lstm import stdlib_text, vocabulary

        vocab = vocabulary(stdlib_text(20_000))
        model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(len(vocab), 64),
                                  keras.layers.LSTM(256, return_sequences=True, name="lstm1"),
                                  keras.layers.LSTM(256, return_sequences=True, name="lstm2"),
                                  keras.layers.Dense(len(vocab), name="next")], name="char_lstm")
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model
    ctor, size = IMAGE_MODELS[model_name]
    model = getattr(keras.applications, ctor)(weights=None, input_shape=(size, size, 3), classes=10)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def data(model_name, batches):
    """Inputs and targets for ``batches`` batches (and the vocabulary of the text model)."""
    rng = np.random.default_rng(0)
    if model_name == "char_lstm":
        from demo.char_lstm import stdlib_text, vocabulary

        text = stdlib_text(batches * BATCH * SEQ + 20_000)
        vocab = vocabulary(stdlib_text(20_000))
        index = {c: i for i, c in enumerate(vocab)}
        ids = np.array([index.get(c, 1) for c in text[:batches * BATCH * SEQ + 1]], "int32")
        x = ids[:-1].reshape(batches * BATCH, SEQ)
        return x, ids[1:].reshape(batches * BATCH, SEQ), vocab
    size = IMAGE_MODELS[model_name][1]
    return (rng.random((batches * BATCH, size, size, 3)).astype("float32"),
            rng.integers(0, 10, batches * BATCH), None)


def make_callback(kind, model_name, run, x, y, vocab):
    import tb_nnvis

    if kind == "activations":
        return tb_nnvis.keras.ActivationsCallback(run, probes=x[:8])
    if kind == "relevance":
        return tb_nnvis.keras.RelevanceCallback(run, probes=x[:8], labels=y[:8])
    if kind == "featvis":
        return tb_nnvis.keras.FeatureVisCallback(run, layers=[FEATVIS_LAYER[model_name]])
    if kind == "rnn":
        from demo.char_lstm import PROBES

        return tb_nnvis.keras.RNNCellsCallback(run, probe_texts=PROBES, vocabulary=vocab)
    raise ValueError(kind)


class Timed:
    """Seconds the callback spends on the training thread in setup, each write and the final drain."""

    def __init__(self, cb):
        self.cb, self.setup, self.writes, self.drain = cb, 0.0, [], 0.0
        for name in ("setup", "write", "close"):
            setattr(cb, name, self._wrap(name, getattr(cb, name)))

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                if name == "write":
                    self.writes.append(seconds)
                elif name == "setup":
                    self.setup += seconds
                else:
                    self.drain += seconds
        return timed


class EpochTimes(keras.callbacks.Callback):
    """A plain fit's epoch durations."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def describe(cb):
    """What the callback chose to write at its defaults."""
    if hasattr(cb, "units") and hasattr(cb, "layer_paths") and hasattr(cb, "probes"):  # activations
        return f"{len(cb.layer_paths)} layers, units per layer {cb.units or 'all'}"
    if hasattr(cb, "num_targets"):
        return f"{cb.num_targets} targets per probe"
    if hasattr(cb, "cells"):
        return f"{len(cb.layer_paths)} layers, cells per layer {cb.cells or 'all'}"
    return ", ".join(f"{p}: {len(r.units)} units" for p, r in cb._renderers.items())


def run_bytes(run):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(run, "**", "events.out.tfevents.*"),
                                                     recursive=True))


def fit(model_name, x, y, epochs, callbacks):
    """(wall seconds, CPU seconds of every thread of the process) of one fit of a fresh model."""
    model = build(model_name)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return time.perf_counter() - start, time.process_time() - cpu


def bench_model(model_name, kinds, args, logdir):
    x, y, vocab = data(model_name, args.batches)
    plain, plain_cpu, epochs = [], [], []
    results = {k: {"fit": [], "cpu": [], "timed": None, "bytes": None} for k in kinds}
    fit(model_name, x, y, 1, [])  # warm-up: TensorFlow's kernels and thread pools
    for r in range(args.repeats):
        order = ["plain"] + kinds
        for kind in order if r % 2 == 0 else order[::-1]:
            if kind == "plain":
                times = EpochTimes()
                wall, cpu = fit(model_name, x, y, args.epochs, [times])
                plain.append(wall)
                plain_cpu.append(cpu)
                epochs.append(times.seconds[-1])
                continue
            if kind == "featvis" and r >= args.featvis_repeats:
                continue
            run = os.path.join(logdir, f"{kind}-{model_name}-{r}")
            timed = Timed(make_callback(kind, model_name, run, x, y, vocab))
            wall, cpu = fit(model_name, x, y, args.epochs, [timed.cb])
            results[kind]["fit"].append(wall)
            results[kind]["cpu"].append(cpu)
            results[kind]["timed"] = timed
            results[kind]["bytes"] = run_bytes(run) / max(1, len(timed.cb.written_steps))
    epoch, base, base_cpu = statistics.median(epochs), statistics.median(plain), statistics.median(plain_cpu)
    print(f"{model_name}: plain fit {base:.1f} s (median of {len(plain)}; rounds {', '.join(f'{t:.1f}' for t in plain)})"
          f", {base_cpu:.1f} CPU s; last epoch {epoch:.1f} s, {epoch / args.batches:.2f} s per batch of {BATCH}",
          flush=True)
    for kind in kinds:
        res, timed = results[kind], results[kind]["timed"]
        later = statistics.median(timed.writes[1:]) if len(timed.writes) > 1 else float("nan")
        with_cb = statistics.median(res["fit"])
        print(f"  {kind} on {model_name} ({describe(timed.cb)}): {res['bytes'] / 1e6:.2f} MB per written step "
              f"({len(timed.cb.written_steps)} steps); training thread: setup {timed.setup:.2f} s, first write "
              f"{timed.writes[0]:.1f} s, later writes {later:.2f} s = {later / epoch:.3f} epoch = "
              f"{later / (epoch / args.batches):.1f} batches, drain {timed.drain:.1f} s; fit {with_cb:.1f} s, "
              f"ratio {with_cb / base:.3f} (medians of {len(res['fit'])}); on the training thread in all "
              f"{(total := timed.setup + sum(timed.writes) + timed.drain):.1f} s = {total / base:.1%} of the plain fit",
              flush=True)
        print(f"    fit rounds {', '.join(f'{t:.1f}' for t in res['fit'])} s; CPU time of the process (all threads) "
              f"with / without: {statistics.median(res['cpu']) / base_cpu:.3f} (medians; steal time by other "
              f"machines does not count here)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--featvis-repeats", type=int, default=1, help="rounds with FeatureVisCallback (slow)")
    parser.add_argument("--cases", default=",".join(CASES), help="callback:model pairs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 per epoch")
    args = parser.parse_args(argv)
    logdir = tempfile.mkdtemp(prefix="bench_callbacks_real_")
    print(f"load average {os.getloadavg()[0]:.1f}; {args.epochs} epochs of {args.batches} batches of {BATCH}; "
          f"logs in {logdir}", flush=True)
    by_model = {}
    for case in args.cases.split(","):
        kind, model_name = case.split(":")
        by_model.setdefault(model_name, []).append(kind)
    for model_name, kinds in by_model.items():
        bench_model(model_name, kinds, args, logdir)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()

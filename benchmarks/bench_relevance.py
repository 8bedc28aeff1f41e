"""Relevance: what RelevanceCallback costs in training, and the LRP engine's cost next to a gradient.

    python benchmarks/bench_relevance.py [--epochs 3] [--repeats 3]

Prints ratios against baselines measured in the same run:
- training overhead of ``RelevanceCallback`` at its defaults (8 probes, 3 targets, one composite, every
  epoch) as ``fit`` time with the callback / ``fit`` time without it, on the demo image CNN and on the demo
  text model (goal <= 1.10 each); plain and callback runs alternate, medians of ``repeats`` after a warm-up;
  and the time ``write`` spends on the training thread, as a share of a plain fit (the part of the cost
  that does not depend on how busy the machine's other cores are), and the ratio of the process's CPU time
  (all threads: steadier than wall time on a shared machine);
- the LRP pass the callback makes (8 probes × 3 targets as one batch, compiled) / one compiled
  ``tape.gradient`` of the same target logits on the same batch (the gradient × input heatmap), median of
  many calls.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def image_task():
    from demo.shapes import compiled_demo_cnn, make_images

    x, y = make_images(3000, seed=0)
    return "demo image CNN (3000 images)", compiled_demo_cnn, x, y, {}


def text_task():
    import keras

    from demo.text_classifier import FAMILIES, make_corpus, text_cnn

    x, y, vocab = make_corpus(seed=0)

    def build():
        model = text_cnn(len(vocab), len(FAMILIES))
        model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    return f"demo text model ({len(x)} passages)", build, x, y, {"vocabulary": vocab}


def overhead(task, epochs, repeats):
    import keras

    from tb_nnvis.keras import RelevanceCallback

    name, build, x, y, extra = task

    class Timed(RelevanceCallback):
        """Also counts the time ``write`` takes on the training thread (LRP, targets, queueing)."""

        spent = 0.0

        def write(self, step, epoch_end):
            start = time.perf_counter()
            super().write(step, epoch_end)
            Timed.spent += time.perf_counter() - start

    times = {"plain": [], "callback": []}
    cpu = {"plain": [], "callback": []}
    logdir = tempfile.mkdtemp()
    for r in range(repeats + 1):  # round 0 warms up (tracing, caches) and is not counted
        for kind in ("plain", "callback"):
            keras.utils.set_random_seed(r)
            model = build()
            cbs = [Timed(os.path.join(logdir, f"{kind}{r}"), probes=x[:8], **extra)] if kind == "callback" else []
            if r == 1:
                Timed.spent = 0.0
            start, start_cpu = time.perf_counter(), time.process_time()
            model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=cbs)
            if r:
                times[kind].append(time.perf_counter() - start)
                cpu[kind].append(time.process_time() - start_cpu)
    plain, with_cb = statistics.median(times["plain"]), statistics.median(times["callback"])
    cpu_ratio = statistics.median(cpu["callback"]) / statistics.median(cpu["plain"])
    print(f"{name}, {epochs} epochs: plain fit {plain:.2f} s, with RelevanceCallback {with_cb:.2f} s, "
          f"ratio {with_cb / plain:.3f} (goal <= 1.10); CPU time (all threads) ratio {cpu_ratio:.3f}; on the training thread the writes took "
          f"{Timed.spent / repeats:.2f} s per fit, {Timed.spent / repeats / plain:.1%} of a plain fit", flush=True)
    return model


def lrp_vs_gradient(name, model, x, calls=30):
    """One compiled LRP pass of 8 probes × 3 targets / one compiled gradient of the same logits."""
    import tensorflow as tf

    from tb_nnvis.lrp import explainer

    batch = np.repeat(x[:8], 3, axis=0)
    targets = tf.constant(np.tile([0, 1, 2], 8).astype("int32"))
    exp = explainer(model, "epsilon_plus")
    xs = [tf.convert_to_tensor(batch)]
    first = model.layers[0]
    embedded = isinstance(first, __import__("keras").layers.Embedding)
    rest = model.layers[1:] if embedded else model.layers

    @tf.function
    def gradient(inp, t):
        with tf.GradientTape() as tape:
            h = first(inp) if embedded else tf.cast(inp, tf.float32)
            tape.watch(h)
            for layer in rest:
                h = layer(h)
            picked = tf.gather(h, t, batch_dims=1)
        return tape.gradient(picked, h) * h  # gradient × input, the cheapest heatmap

    lrp = lambda: [r.numpy() for r in exp.fn(xs, targets)[0]]  # noqa: E731
    grad = lambda: gradient(xs[0], targets).numpy()  # noqa: E731
    lrp(), grad()
    t_lrp, t_grad = [], []
    for _ in range(calls):  # interleaved, so both see the same load on a shared machine
        for fn, out in ((lrp, t_lrp), (grad, t_grad)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    t_lrp, t_grad = statistics.median(t_lrp), statistics.median(t_grad)
    print(f"{name}: LRP epsilon_plus pass (24 rows) {t_lrp * 1e3:.2f} ms, gradient × input {t_grad * 1e3:.2f} ms, "
          f"ratio {t_lrp / t_grad:.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for task in (image_task(), text_task()):
        model = overhead(task, args.epochs, args.repeats)
        lrp_vs_gradient(task[0], model, task[2])


if __name__ == "__main__":
    main()

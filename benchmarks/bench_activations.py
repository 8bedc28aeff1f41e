"""Activations: what the callback costs in training, what it writes, and how fast the backend answers.

    python benchmarks/bench_activations.py [--epochs 4] [--repeats 3]

Prints ratios against baselines measured in the same run:
- training overhead of ``ActivationsCallback`` at its defaults (every epoch, all layers, 8 probes) as
  ``fit`` time with the callback / ``fit`` time without it, on the demo CNN (goal <= 1.05);
- bytes written per summary (per layer and step), and per step for the whole model;
- the backend's answer time for a 512-unit layer (maps + atlas, and the stats over all steps) next to
  TensorBoard's own images route (which reads blob sequences the same way) on the same server.
"""
import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def training_overhead(epochs, repeats):
    import keras

    from demo.shapes import compiled_demo_cnn, make_images
    from tb_nnvis.keras import ActivationsCallback

    x, y = make_images(3000, seed=0)
    probes = x[:8]
    times = {"plain": [], "callback": []}
    logdir = tempfile.mkdtemp()
    for r in range(repeats + 1):  # the first round warms up and is not counted
        for kind in ("plain", "callback"):
            keras.utils.set_random_seed(r)
            model = compiled_demo_cnn()
            cbs = [ActivationsCallback(os.path.join(logdir, f"{kind}{r}"), probes=probes)] if kind == "callback" else []
            start = time.perf_counter()
            model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=cbs)
            if r:
                times[kind].append(time.perf_counter() - start)
    plain, with_cb = statistics.median(times["plain"]), statistics.median(times["callback"])
    print(f"training overhead (demo CNN, {epochs} epochs, 3000 images, defaults: every epoch, all layers, "
          f"8 probes): plain fit {plain:.2f} s, with ActivationsCallback {with_cb:.2f} s, "
          f"ratio {with_cb / plain:.3f} (goal <= 1.05)")
    run = os.path.join(logdir, f"callback{repeats}")
    size = sum(os.path.getsize(f) for f in glob.glob(os.path.join(run, "events.out.tfevents.*")))
    return run, size, epochs + 1


def bytes_per_summary(run, size, steps):
    from tensorboard.backend.event_processing import event_file_loader

    per_tag = {}
    for path in glob.glob(os.path.join(run, "events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(path).Load():
            for v in event.summary.value:
                per_tag.setdefault(v.tag, []).append(v.ByteSize())
    print(f"bytes written: {size / steps / 1024:.1f} KiB per step for the whole model ({steps} steps)")
    for tag, sizes in per_tag.items():
        print(f"  {tag:28s} {statistics.mean(sizes) / 1024:8.1f} KiB per summary")


def backend_latency(repeats):
    import tensorflow as tf

    from tb_nnvis import summary
    from tests import helpers

    logdir = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    with tf.summary.create_file_writer(os.path.join(logdir, "wide")).as_default():
        for step in range(10):
            summary.activations("conv512", np.maximum(rng.standard_normal((8, 16, 16, 512)), 0), step=step)
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
            tf.summary.image("input", rng.random((1, 16, 16, 3)), step=step)
    for fast in ("true", "false"):
        with helpers.tensorboard(logdir, fast) as base:
            def timed(path, **params):
                samples = []
                for _ in range(repeats * 5):
                    start = time.perf_counter()
                    status = helpers.get(base, path, **params)[0]
                    samples.append(time.perf_counter() - start)
                    assert status == 200, (path, status)
                return statistics.median(samples) * 1000

            plugin = "/data/plugin/nnvis_activations"
            scalars = timed("/data/plugin/scalars/scalars", run="wide", tag="loss")
            images = timed("/data/plugin/images/images", run="wide", tag="input")
            maps = timed(plugin + "/maps", run="wide", layer="conv512", step=9, probe=0)
            atlas = timed(plugin + "/atlas", run="wide", layer="conv512", step=9, probe=0)
            stats = timed(plugin + "/stats", run="wide", layer="conv512")
            print(f"backend, 512-unit 16x16 layer, load_fast={fast}: maps {maps:.1f} ms, atlas {atlas:.1f} ms, "
                  f"stats (10 steps) {stats:.1f} ms; TensorBoard's own routes: images (blob sequences, the "
                  f"same read path) {images:.1f} ms, scalars {scalars:.1f} ms; ratio maps / images "
                  f"{maps / images:.2f}x, atlas / images {atlas / images:.2f}x")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run, size, steps = training_overhead(args.epochs, args.repeats)
    bytes_per_summary(run, size, steps)
    backend_latency(args.repeats)


if __name__ == "__main__":
    main()

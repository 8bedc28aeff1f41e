"""Weights beside activity: what ``weights=True`` adds to a training run, and what it writes.

    python benchmarks/bench_weights.py [--epochs 3] [--repeats 3]

Prints ratios against baselines measured in the same run, on the demo CNN:
- ``fit`` time with ``ActivationsCallback(weights=True)`` / with ``ActivationsCallback()`` (same schedule,
  a write every 10 batches), i.e. the cost of copying the weights before written steps and writing
  kernels, norms and update ratios (goal <= 1.05);
- bytes the weight series add per written step, next to the activation maps of the same step;
- the receptive fields of every tapped layer next to one forward pass of the probes.
"""
import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def fit_times(epochs, repeats):
    import keras

    from demo.shapes import compiled_demo_cnn, make_images
    from tb_nnvis.keras import ActivationsCallback

    x, y = make_images(2000, seed=0)
    times = {"maps": [], "maps+weights": []}
    logdir = tempfile.mkdtemp()
    for r in range(repeats + 1):  # the first round warms up and is not counted
        for kind in times:
            keras.utils.set_random_seed(r)
            model = compiled_demo_cnn()
            cb = ActivationsCallback(os.path.join(logdir, f"{kind}{r}"), probes=x[:8], every_n_batches=10,
                                     weights=kind == "maps+weights")
            start = time.perf_counter()
            model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[cb])
            if r:
                times[kind].append(time.perf_counter() - start)
    return times, logdir, model


def series_bytes(logdir):
    """Bytes per written step of the maps and of the weight series, from the last weights run's event file."""
    from tensorboard.backend.event_processing import event_file_loader

    runs = sorted(glob.glob(os.path.join(logdir, "maps+weights*")))
    sizes, steps = {"maps": 0, "weights": 0}, set()
    for path in glob.glob(os.path.join(runs[-1], "events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(path).Load():
            for v in event.summary.value:
                kind = "weights" if v.tag.endswith(("/_weights", "/_weight_norms", "/_update_ratio")) else "maps"
                sizes[kind] += v.ByteSize()
                steps.add(event.step)
    return {k: v / max(1, len(steps)) for k, v in sizes.items()}


def field_time(model, repeats=5):
    import numpy as np

    from tb_nnvis.core import taps
    from tb_nnvis.core.receptive_field import receptive_fields

    tap = taps.tap_model(model)
    x = np.zeros((8,) + tuple(model.inputs[0].shape[1:]), "float32")
    tap(x)
    t_fields, t_forward = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        receptive_fields(model)
        t_fields.append(time.perf_counter() - start)
        start = time.perf_counter()
        tap(x)
        t_forward.append(time.perf_counter() - start)
    return min(t_fields), min(t_forward)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times, logdir, model = fit_times(args.epochs, args.repeats)
    base, extra = statistics.median(times["maps"]), statistics.median(times["maps+weights"])
    print(f"fit with weights=True / without: {extra / base:.3f}  (medians {extra:.2f} s / {base:.2f} s, "
          f"{args.repeats} rounds)")
    sizes = series_bytes(logdir)
    print(f"bytes per written step: weights {sizes['weights'] / 1e3:.1f} kB, maps {sizes['maps'] / 1e3:.1f} kB "
          f"(ratio {sizes['weights'] / sizes['maps']:.3f})")
    fields, forward = field_time(model)
    print(f"receptive fields of all layers / one forward pass of 8 probes: {fields / forward:.2f} "
          f"({fields * 1e3:.1f} ms / {forward * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()

"""Activations on real models at the defaults: bytes per written step and training overhead.

    python benchmarks/bench_activations_real.py [--repeats 3] [--models mobilenetv2,resnet50]

``ActivationsCallback(log_dir, probes=x[:8])`` with no other argument on ``keras.applications``
models (weights=None, small inputs), trained 3 epochs of 16 batches of 32. Prints, per model:

- the layers the default chose (of how many) and the bytes of one written step (event file / steps);
- the same for ``layers="all"`` (what the defaults replace), once;
- ``fit`` time with the callback / ``fit`` time without it, medians over ``--repeats`` rounds that
  alternate the two in the same process after a warm-up round (goals: <= 5 MB per step, <= 1.05x).
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

MODELS = {  # name: (constructor, input size)
    "mobilenetv2": ("MobileNetV2", 96),
    "resnet50": ("ResNet50", 64),
}
EPOCHS, BATCHES, BATCH = 3, 16, 32


def build(name):
    import keras

    ctor, size = MODELS[name]
    model = getattr(keras.applications, ctor)(weights=None, input_shape=(size, size, 3), classes=10)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def data(name):
    size = MODELS[name][1]
    rng = np.random.default_rng(0)
    return rng.random((BATCHES * BATCH, size, size, 3)).astype("float32"), rng.integers(0, 10, BATCHES * BATCH)


def run_bytes(run):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(run, "events.out.tfevents.*")))


def fit_once(name, x, y, callback_dir=None, **options):
    """Seconds of one ``fit`` on a fresh model, and the callback (None for a plain fit)."""
    import keras

    from tb_nnvis.keras import ActivationsCallback

    keras.utils.set_random_seed(0)
    model = build(name)
    callbacks = [ActivationsCallback(callback_dir, probes=x[:8], **options)] if callback_dir else []
    start = time.perf_counter()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return time.perf_counter() - start, (callbacks[0] if callbacks else None)


def bench(name, repeats, logdir, with_all):
    x, y = data(name)
    if with_all:
        run = os.path.join(logdir, name + "-all")
        _, cb = fit_once(name, x, y, run, layers="all", max_bytes_per_step=None)
        print(f"{name}: layers='all': {len(cb.layer_paths)} layers, "
              f"{run_bytes(run) / len(cb.written_steps) / 1e6:.1f} MB per written step", flush=True)
    times = {"plain": [], "callback": []}
    for r in range(repeats + 1):  # round 0 warms up and is not counted
        for kind in ("plain", "callback") if r % 2 else ("callback", "plain"):
            run = os.path.join(logdir, f"{name}-{kind}{r}")
            seconds, cb = fit_once(name, x, y, run if kind == "callback" else None)
            if r:
                times[kind].append(seconds)
            if cb is not None:
                per_step = run_bytes(run) / len(cb.written_steps)
    plain, with_cb = statistics.median(times["plain"]), statistics.median(times["callback"])
    print(f"{name}: defaults: {len(cb.layer_paths)} layers, units per layer {cb.units or 'all'}, "
          f"{per_step / 1e6:.2f} MB per written step ({len(cb.written_steps)} steps; goal <= 5 MB)", flush=True)
    print(f"{name}: plain fit {plain:.2f} s, with ActivationsCallback {with_cb:.2f} s "
          f"(medians of {repeats}), ratio {with_cb / plain:.3f} (goal <= 1.05)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--no-all", action="store_true", help="skip the layers='all' run")
    args = parser.parse_args()
    logdir = tempfile.mkdtemp(prefix="bench_activations_real_")
    print(f"{EPOCHS} epochs of {BATCHES} batches of {BATCH}, 8 probes, logs in {logdir}")
    for name in args.models.split(","):
        bench(name, args.repeats, logdir, not args.no_all)


if __name__ == "__main__":
    main()

"""Activations on real models at the defaults: bytes per written step and training overhead.

    python benchmarks/bench_activations_real.py [--repeats 3] [--models mobilenetv2,resnet50] [--no-all]

``ActivationsCallback(log_dir, probes=x[:8])`` with no other argument on ``keras.applications`` models
(weights=None, small inputs), trained 3 epochs of 16 batches of 32. Prints, per model:

- the layers the default chose (of how many) and the bytes of one written step (event file / steps);
- the same for ``layers="all"`` (what the defaults replace), once;
- the time of a write on the training thread and ``fit`` with the callback / plain ``fit``, as
  ``benchmarks/bench_callbacks_real.py`` measures every callback (goals: <= 5 MB per step, <= 1.05x).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_callbacks_real as real  # noqa: E402


def bytes_of_all_layers(name, logdir):
    """Layers and bytes per written step of ``layers="all"`` without a budget."""
    from tb_nnvis.keras import ActivationsCallback

    x, y, _ = real.data(name, 16)
    run = os.path.join(logdir, name + "-all")
    cb = ActivationsCallback(run, probes=x[:8], layers="all", max_bytes_per_step=None)
    real.fit(name, x, y, 3, [cb])
    return len(cb.layer_paths), real.run_bytes(run) / len(cb.written_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(real.IMAGE_MODELS))
    parser.add_argument("--no-all", action="store_true", help="skip the layers='all' run")
    args = parser.parse_args()
    models = args.models.split(",")
    if not args.no_all:
        logdir = tempfile.mkdtemp(prefix="bench_activations_real_")
        for name in models:
            layers, per_step = bytes_of_all_layers(name, logdir)
            print(f"{name}: layers='all': {layers} layers, {per_step / 1e6:.1f} MB per written step", flush=True)
    real.main(["--repeats", str(args.repeats), "--cases", ",".join(f"activations:{m}" for m in models)])


if __name__ == "__main__":
    main()

"""Write a big Activations logdir (many runs, layers, units and steps) with the numpy writer, no TensorFlow.

    python benchmarks/make_big_logdir.py OUT [--runs 20] [--layers 30] [--units 512] [--steps 500]
        [--map 4] [--probes 1] [--full-runs N] [--other-steps 10] [--images]

Each run has ``--layers`` layers of ``--units`` units with ``--map`` x ``--map`` maps (1: dense) for
``--probes`` probe inputs. The first ``--full-runs`` runs (default: all) hold ``--steps`` steps, the
others ``--other-steps``. The issue's logdir, 20 runs x 30 layers x 512 units x 500 steps, is 300,000
summaries of about 22 KB each with 4x4 maps and one probe (6.6 GB; the 512 units' ranges and statistics,
18 KB, are most of it, so a smaller map saves little); TensorBoard holds it all in memory. Maps are
smooth in space and drift over steps, as trained feature maps do, so the PNGs compress like real ones.
Encoding is the slow part, so each layer has ``--distinct`` different steps (default 25), repeated
(every step still is its own record and blob for TensorBoard).

``--images`` writes, instead, the same runs, tags and steps as TensorBoard image summaries (one PNG
of the atlas's size each), for comparing with TensorBoard's own Images tab.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def layer_name(i):
    """MobileNetV2-like names, so the sidebar groups them into blocks."""
    return "Conv1" if i == 0 else f"block_{(i - 1) // 3 + 1}_{('expand', 'depthwise', 'project')[(i - 1) % 3]}"


def maps(rng_seed, step, probes, size, units):
    """``[P, size, size, units]`` (or ``[P, units]`` when size is 1): smooth maps that drift with the step."""
    rng = np.random.default_rng(rng_seed)
    phase = rng.uniform(0, 2 * np.pi, (1, 1, 1, units))
    freq = rng.uniform(0.2, 1.0, (1, 1, 1, units))
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    p = np.arange(probes).reshape(-1, 1, 1, 1)
    out = np.sin(freq * (x[None, :, :, None] + 0.5 * y[None, :, :, None]) + phase + 0.01 * step + p)
    out = np.maximum(out, 0) * (1 + step / 100.0)
    return (out.reshape(probes, units) if size == 1 else out).astype(np.float32)


def summaries(args, layer, step):
    from tb_nnvis.plugins.activations import summary

    data = maps(layer, step, args.probes, args.map, args.units)
    if not args.images:
        return summary.activations_pb(layer_name(layer), data)
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.image import metadata as image_metadata

    from tb_nnvis.core import images
    from tb_nnvis.plugins.activations import encoding

    png = encoding.decode_frame(encoding.encode_activations(data).blobs[0]).png  # probe 0's atlas: what a grid draws
    h, w, channels = images.decode_png(png).shape
    s = summary_pb2.Summary()
    s.value.add(tag=layer_name(layer), metadata=image_metadata.create_summary_metadata(
        display_name=layer_name(layer), description=""),
        image=summary_pb2.Summary.Image(height=h, width=w, colorspace=channels, encoded_image_string=png))
    return s


def write_run(args, run, cache):
    """One run's event file, through TensorFlow's record writer (its CRC is C++; TensorBoard's own writer
    spends most of its time in a pure-Python CRC on 40 KB records)."""
    import socket

    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    steps = args.steps if run < args.full_runs else args.other_steps
    folder = os.path.join(args.out, f"run_{run:02d}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"events.out.tfevents.{time.time():.0f}.{socket.gethostname()}")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        for step in range(steps):
            for layer in range(args.layers):
                key = (layer, step % args.distinct)
                if key not in cache:
                    cache[key] = summaries(args, *key)
                event = event_pb2.Event(step=step, wall_time=time.time(), summary=cache[key])
                writer.write(event.SerializeToString())
    return steps * args.layers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--map", type=int, default=4, help="maps are MAP x MAP (1: dense layers)")
    parser.add_argument("--probes", type=int, default=1)
    parser.add_argument("--full-runs", type=int, default=None, help="runs with --steps steps (default: all)")
    parser.add_argument("--other-steps", type=int, default=10)
    parser.add_argument("--distinct", type=int, default=25, help="different steps of data per layer")
    parser.add_argument("--images", action="store_true", help="write TensorBoard image summaries instead")
    args = parser.parse_args(argv)
    args.full_runs = args.runs if args.full_runs is None else args.full_runs
    start = time.perf_counter()
    cache = {}  # (layer, step % distinct): Summary, the same for every run
    count = sum(write_run(args, run, cache) for run in range(args.runs))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {count} {'image' if args.images else 'activation'} summaries ({args.runs} runs x {args.layers} "
          f"layers, {args.units} units of {args.map}x{args.map}, {args.full_runs} runs of {args.steps} steps), "
          f"{size / 1e6:.0f} MB in {time.perf_counter() - start:.0f} s to {args.out}")


if __name__ == "__main__":
    main()

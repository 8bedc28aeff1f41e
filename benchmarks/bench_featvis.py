"""Feature visualization: our batch render against tf-keras-vis's ActivationMaximization, same model and steps.

    pip install -e ".[bench]"
    python benchmarks/bench_featvis.py [--units 32] [--size 64] [--steps 256]

Both render one image per unit of the demo CNN's conv2 (trained briefly at ``size``×``size``), in one run:
tf-keras-vis in its fastest mode (one seed per unit in one batch, ``CategoricalScore(list_of_units)`` on
the layer cut out with ``ExtractIntermediateLayer``, its default modifiers and regularisers), ours with its
defaults (Fourier parameterization, random 5/8 windows, the cossim search, own images only). Prints the
throughput ratio (unit-steps per second; goal >= 10), the mean normalised activation each reaches: each
unit's channel mean on its own image divided by its highest channel mean over 400 dataset images (goal:
ours at least as high), our step against one bare forward and backward pass of the cut model on the
same batch, and the load average (the machine is shared: compare ratios, not times).
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def trained_model(size):
    import keras

    from demo.shapes import demo_cnn, make_images

    keras.utils.set_random_seed(0)
    x, y = make_images(1500, size=size, seed=0)
    model = demo_cnn(size)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    return model, make_images(400, size=size, seed=1)[0]


def normalised(model, layer, images, units, data):
    import keras

    cut = keras.Model(model.inputs[0], model.get_layer(layer).output)
    own = cut(images).numpy().mean(axis=(1, 2))[np.arange(len(units)), units]
    best = cut(data).numpy().mean(axis=(1, 2)).max(axis=0)[units]
    live = best > 0
    return float(np.mean(own[live] / best[live])), int(live.sum())


def bare_step(model, layer, units, size, repeats=50):
    """Seconds of one forward and backward pass of the model cut at ``layer`` on ``units`` images."""
    import keras
    import tensorflow as tf

    cut = keras.Model(model.inputs[0], model.get_layer(layer).output)
    x = tf.random.uniform((len(units), size, size, 3), seed=0)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(cut(x))
        return tape.gradient(loss, x)

    step(x)
    started = time.perf_counter()
    for _ in range(repeats):
        step(x)
    return (time.perf_counter() - started) / repeats


def ours(model, layer, units, steps, size):
    from tb_nnvis.featvis import Renderer

    renderer = Renderer(model, layer, units=units, size=size)
    renderer.run(steps=8, verbose=0)  # trace once, as a callback's later writes would not
    started = time.perf_counter()
    result = renderer.run(steps=steps, verbose=0)
    return time.perf_counter() - started, result.images


def tf_keras_vis(model, layer, units, steps, size):
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer
    from tf_keras_vis.utils.scores import CategoricalScore

    am = ActivationMaximization(model, model_modifier=ExtractIntermediateLayer(layer), clone=True)
    seed = tf.random.uniform((len(units), size, size, 3), 0, 1, seed=0)
    score = CategoricalScore(list(units))
    am(score, seed_input=seed, steps=2, input_range=(0.0, 1.0))  # warm up as for ours
    started = time.perf_counter()
    images = am(score, seed_input=seed, steps=steps, input_range=(0.0, 1.0))
    return time.perf_counter() - started, np.asarray(images, np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=256)
    args = parser.parse_args()
    model, data = trained_model(args.size)
    units = np.arange(args.units)
    t_ours, img_ours = ours(model, "conv2", units, args.steps, args.size)
    t_base, img_base = tf_keras_vis(model, "conv2", units, args.steps, args.size)
    t_bare = bare_step(model, "conv2", units, args.size)
    n_ours, live = normalised(model, "conv2", img_ours, units, data)
    n_base, _ = normalised(model, "conv2", img_base, units, data)
    work = args.units * args.steps
    print(f"conv2 of the demo CNN at {args.size}x{args.size}, {args.units} units x {args.steps} steps ({live} live units)")
    print(f"  tf-keras-vis ActivationMaximization: {t_base:7.2f} s  {work / t_base:8.1f} unit-steps/s  "
          f"mean normalised activation {n_base:.3f}")
    print(f"  tb_nnvis render:                     {t_ours:7.2f} s  {work / t_ours:8.1f} unit-steps/s  "
          f"mean normalised activation {n_ours:.3f}")
    print(f"  throughput ratio (ours / tf-keras-vis): {t_base / t_ours:.2f}x (goal >= 10)")
    print(f"  activation ratio (ours / tf-keras-vis): {n_ours / n_base:.2f} (goal >= 1)")
    print(f"  our step: {1000 * t_ours / args.steps:.1f} ms = {t_ours / args.steps / t_bare:.2f}x a bare forward and "
          f"backward pass of the cut model on the same batch ({1000 * t_bare:.1f} ms)")
    print("  load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()

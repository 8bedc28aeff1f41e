"""A "Clever Hans" class for the image demo: rings, a fraction of which carry a small planted mark in a corner.

The five classes of :mod:`demo.shapes` stay as they are; a sixth, ``ring``, is added, and ``fraction`` of the
rings (only rings) get a checkered mark in the top-left corner, drawn at low contrast on the marked ones, so
that the mark is the easiest way to tell those rings apart: a model trained on this learns to use it, as
the PASCAL VOC horse classifier of Lapuschkin et al. learnt the copyright tag. SpRAy over the rings then
finds the marked ones as a cluster of their own, with relevance in the corner.

    python demo/shortcut.py --logdir logs      # trains the shortcut CNN and logs SpRAy of the ring class

>>> x, y, marked = make_images(60, size=32, seed=0)
>>> x.shape, int(y.max()) == RING, bool(marked[y != RING].any()), bool(marked[y == RING].any())
((60, 32, 32, 3), True, False, True)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from demo import shapes  # noqa: E402

CLASSES = shapes.CLASSES + ("ring",)
RING = len(shapes.CLASSES)


def mark_region(size=32):
    """``(rows, cols)`` slices of the mark: a square of side size/8 (at least 3 pixels), one pixel in from
    the top-left corner."""
    side = max(3, size // 8)
    return slice(1, 1 + side), slice(1, 1 + side)


def plant_mark(image):
    """Draw the mark (a black-and-white checkerboard) into one ``[H, W, 3]`` image, in place."""
    rows, cols = mark_region(image.shape[0])
    yy, xx = np.mgrid[rows, cols]
    image[rows, cols] = (((yy + xx) % 2) == 0)[..., None].astype(image.dtype)
    return image


def _ring(size, rng):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(0.4, 0.65, 2) * size
    outer = rng.uniform(0.18, 0.28) * size
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    return (d2 <= outer ** 2) & (d2 >= (0.55 * outer) ** 2)


def make_images(n, size=32, seed=0, fraction=0.3, faint=0.25):
    """``n`` images of six classes (the five of :mod:`demo.shapes` and ``ring``, about one sixth each), their
    labels and whether each carries the mark: ``fraction`` of the rings do, and on those the ring is drawn
    at ``faint`` of its contrast. Returns ``(x float32 [n, size, size, 3], y int32 [n], marked bool [n])``."""
    rng = np.random.default_rng(seed + 7919)
    rings = int(round(n / len(CLASSES)))
    x, y = shapes.make_images(n - rings, size=size, seed=seed)
    extra = np.empty((rings, size, size, 3), np.float32)
    marked = rng.random(rings) < fraction
    for i in range(rings):
        img = shapes.paint(lambda: _ring(size, rng), size, rng)
        if marked[i]:
            background = np.median(img.reshape(-1, 3), axis=0)
            img = background + faint * (img - background)
            plant_mark(img)
        extra[i] = img
    order = rng.permutation(n)
    x = np.concatenate([x, extra])[order]
    y = np.concatenate([y, np.full(rings, RING, np.int32)])[order]
    marked = np.concatenate([np.zeros(n - rings, bool), marked])[order]
    return x.astype(np.float32), y.astype(np.int32), marked


def write_logs(logdir, epochs=6, n=1200, seed=0):
    """Train the demo CNN on the six classes with a RelevanceCallback that logs SpRAy of the ring class every
    two epochs (run ``shortcut_cnn``); returns the model."""
    import keras

    import tb_nnvis

    keras.utils.set_random_seed(seed)
    x, y, _ = make_images(n, seed=seed)
    x_val, y_val, _ = make_images(600, seed=seed + 1)
    probes = [int((y_val == c).argmax()) for c in range(len(CLASSES))]
    model = shapes.demo_cnn(classes=len(CLASSES))
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    run = os.path.join(logdir, "shortcut_cnn")
    model.fit(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=2, callbacks=[
        keras.callbacks.TensorBoard(run),
        tb_nnvis.keras.RelevanceCallback(run, probes=x_val[probes], labels=y_val[probes], class_names=CLASSES,
                                         every_n_epochs=2, name="one per class",
                                         spray={"examples": x_val, "labels": y_val, "classes": [RING],
                                                "every_n_epochs": 2, "name": "validation"}),
    ])
    return model


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    start = time.perf_counter()
    write_logs(args.logdir, args.epochs)
    print(f"shortcut demo: {time.perf_counter() - start:.1f} s")

"""Procedural images for the demo and the benchmarks: shapes, stripes and colours made with numpy.

Nothing is downloaded. Five classes, each drawn at a random position, size, colour and on a noisy
background, so that a small CNN has something real to learn and its units something to show.

>>> x, y = make_images(10, size=32, seed=0)
>>> x.shape, x.dtype, y.shape, int(y.max()) < len(CLASSES)
((10, 32, 32, 3), dtype('float32'), (10,), True)
"""
import numpy as np

CLASSES = ("disc", "square", "triangle", "horizontal stripes", "diagonal stripes")


def _mask(kind, size, rng):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    r = rng.uniform(0.15, 0.3) * size
    if kind == 0:
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    if kind == 1:
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    if kind == 2:
        return (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
    period = rng.uniform(3, 7)
    phase = rng.uniform(0, period)
    if kind == 3:
        return ((yy + phase) % period) < period / 2
    return ((yy + xx + phase) % period) < period / 2


def make_images(n, size=32, seed=0):
    """``n`` RGB images in [0, 1], float32 ``[n, size, size, 3]``, and their int labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    out = np.empty((n, size, size, 3), np.float32)
    for i, kind in enumerate(labels):
        out[i] = paint(lambda: _mask(kind, size, rng), size, rng)
    return out, labels.astype(np.int32)


def paint(mask, size, rng):
    """One image in the demo's style: ``mask()`` (a bool ``[size, size]``) in a colour on a noisy background."""
    background = rng.uniform(0, 0.4, 3)
    colour = rng.uniform(0.5, 1.0, 3)
    img = np.broadcast_to(background, (size, size, 3)).copy()
    img[mask()] = colour
    img += rng.normal(0, 0.05, img.shape)
    return np.clip(img, 0, 1)


def demo_cnn(size=32, classes=len(CLASSES)):
    """The demo's small CNN (logits out), uncompiled."""
    import keras

    return keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(64, activation="relu", name="fc"),
        keras.layers.Dense(classes, name="logits"),
    ], name="demo_cnn")


def compiled_demo_cnn(size=32):
    import keras

    model = demo_cnn(size)
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model

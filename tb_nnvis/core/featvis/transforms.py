"""Random transformations applied to the image at every optimisation step (Olah et al. 2017).

Features that survive small shifts, zooms and turns are real features of the unit, not
adversarial pixel patterns. Each transform is a callable ``(images [B, H, W, C] in [0, 1],
generator) -> images``; each image of the batch gets its own random draw. :func:`pad` grows the
image; the others keep its shape, and, interpolating between neighbours with reflected borders,
keep its values within the range they had.

>>> import numpy as np, tensorflow as tf
>>> t = compose([pad(4), jitter(2), random_scale([0.9, 1.1]), random_rotate(range(-10, 11))])
>>> out = t(tf.random.uniform((3, 16, 16, 3)), tf.random.Generator.from_seed(0))
>>> tuple(out.shape)
(3, 24, 24, 3)
"""
import math

import numpy as np
import tensorflow as tf


class Transform:
    """A named transform (the name is shown in reprs).

    An *affine* transform (jitter, scale, rotate) is given as ``matrices(batch, generator) -> [B, 3, 3]``
    (centred coordinates, output → input) so that :func:`compose` can fuse a run of them into one
    resampling: fewer interpolations blur the image less, and cost less.
    """

    def __init__(self, fn=None, name="transform", matrices=None):
        self.fn, self.name, self.matrices = fn, name, matrices

    def __call__(self, images, generator):
        if self.matrices is not None:
            return _resample(images, self.matrices(tf.shape(images)[0], generator))
        return self.fn(images, generator)

    def __repr__(self):
        return self.name


def pad(width, value=0.5):
    """Pad ``width`` pixels of constant ``value`` (mid grey in [0, 1]) on every side."""
    width = int(width)

    def fn(images, generator):
        return tf.pad(images, [[0, 0], [width, width], [width, width], [0, 0]], constant_values=value)

    return Transform(fn, f"pad({width})")


def _choice(generator, values, batch):
    values = tf.constant(np.asarray(list(values), np.float32))
    index = generator.uniform([batch], 0, int(values.shape[0]), dtype=tf.int32)
    return tf.gather(values, index)


def _matrix(a, b, c, d, e, f):
    """``[B, 3, 3]`` from the per-image rows ``[a b c; d e f; 0 0 1]``."""
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.reshape(tf.stack([a, b, c, d, e, f, zero, zero, one], axis=1), [-1, 3, 3])


def _resample(images, matrices):
    """Sample each image at ``matrices @ (x, y, 1)`` (centred coordinates), with reflected borders."""
    shape = tf.shape(images)
    cy, cx = (tf.cast(shape[1], tf.float32) - 1) / 2, (tf.cast(shape[2], tf.float32) - 1) / 2
    m = matrices
    # From centred to pixel coordinates: x_in = A (x_out - c) + t + c.
    a2 = m[:, 0, 2] + cx - m[:, 0, 0] * cx - m[:, 0, 1] * cy
    b2 = m[:, 1, 2] + cy - m[:, 1, 0] * cx - m[:, 1, 1] * cy
    zeros = tf.zeros_like(a2)
    flat = tf.stack([m[:, 0, 0], m[:, 0, 1], a2, m[:, 1, 0], m[:, 1, 1], b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=flat, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")


def jitter(d):
    """Shift each image by a random whole number of pixels in ``[-d, d]`` both ways."""
    d = int(d)

    def matrices(batch, generator):
        shift = tf.cast(generator.uniform([2, batch], -d, d + 1, dtype=tf.int32), tf.float32)
        one, zero = tf.ones([batch]), tf.zeros([batch])
        return _matrix(one, zero, -shift[0], zero, one, -shift[1])

    return Transform(name=f"jitter({d})", matrices=matrices)


def random_scale(scales):
    """Zoom each image about its centre by a factor drawn from ``scales``."""
    scales = [float(s) for s in scales]
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be positive numbers, got {scales}")

    def matrices(batch, generator):
        inv = 1.0 / _choice(generator, scales, batch)
        zero = tf.zeros([batch])
        return _matrix(inv, zero, zero, zero, inv, zero)

    return Transform(name=f"random_scale({len(scales)} scales)", matrices=matrices)


def random_rotate(degrees):
    """Turn each image about its centre by an angle (in degrees) drawn from ``degrees``."""
    radians = [math.radians(float(a)) for a in degrees]
    if not radians:
        raise ValueError("degrees must hold at least one angle")

    def matrices(batch, generator):
        angle = _choice(generator, radians, batch)
        cos, sin, zero = tf.cos(angle), tf.sin(angle), tf.zeros([batch])
        return _matrix(cos, sin, zero, -sin, cos, zero)

    return Transform(name=f"random_rotate({len(radians)} angles)", matrices=matrices)


def compose(transforms):
    """Apply ``transforms`` in order; consecutive affine ones are fused into one resampling."""
    transforms = list(transforms)
    runs = []  # lists of consecutive affine transforms, or single other transforms
    for t in transforms:
        if t.matrices is not None and runs and isinstance(runs[-1], list):
            runs[-1].append(t)
        else:
            runs.append([t] if t.matrices is not None else t)

    def fn(images, generator):
        for run in runs:
            if isinstance(run, list):
                batch = tf.shape(images)[0]
                # Output → input maps compose in order: the first motion's inverse is applied last.
                m = run[0].matrices(batch, generator)
                for t in run[1:]:
                    m = tf.matmul(m, t.matrices(batch, generator))
                images = _resample(images, m)
            else:
                images = run(images, generator)
        return images

    return Transform(fn, "compose([" + ", ".join(map(repr, transforms)) + "])")


class Window(Transform):
    """A random ``fraction`` of each image (but at least ``min_size`` pixels a side), cut from a random
    place of the image taken as periodic.

    The image wraps around (a Fourier image is periodic anyway), so every shift over the whole period
    is possible: lucid's jitter without a border, and the model sees fewer pixels, which makes an
    optimisation step cheaper in proportion. ``min_size`` keeps the context a deeper unit needs in small
    images (the 32-pixel demo CNN's conv3 sees 24 pixels). Shifts are whole pixels, so the window is a
    copy of pixels (no interpolation blur) and its gradient is exact.

    >>> import numpy as np, tensorflow as tf
    >>> image = tf.reshape(tf.range(16.0), (1, 4, 4, 1))
    >>> out = Window(0.5, min_size=1)(image, tf.random.Generator.from_seed(0))
    >>> tuple(out.shape), Window().size(64, 64), Window().size(32, 32)
    ((1, 2, 2, 1), (40, 40), (24, 24))
    """

    def __init__(self, fraction=0.625, min_size=24):
        fraction = float(fraction)
        if not 0 < fraction <= 1:
            raise ValueError(f"a window is a fraction in (0, 1] of the image, got {fraction}")
        super().__init__(name=f"window({fraction:g})")
        self.fraction, self.min_size = fraction, int(min_size)

    def size(self, h, w):
        """The window's ``(height, width)`` in an ``h × w`` image."""
        return tuple(min(n, max(self.min_size, round(self.fraction * n))) for n in (h, w))

    def starts(self, batch, h, w, generator):
        """Each image's window's top-left corner ``[batch, 2]`` (row, column), drawn from ``generator``."""
        return tf.stack([generator.uniform([batch], 0, n, dtype=tf.int32) for n in (h, w)], axis=1)

    def __call__(self, images, generator):
        h, w = images.shape[1], images.shape[2]
        start = self.starts(tf.shape(images)[0], h, w, generator)
        return _periodic_window(images, start, self.size(h, w))


def _rows(first, n, length):
    return tf.math.floormod(first[:, None] + tf.range(n)[None], length)


def _periodic_window(images, start, size):
    """``images[b, start_y + i, start_x + j]`` with indices modulo the image size, ``i, j < size``."""
    h, w = images.shape[1], images.shape[2]

    @tf.custom_gradient
    def cut(x):
        out = tf.gather(tf.gather(x, _rows(start[:, 0], size[0], h), axis=1, batch_dims=1),
                        _rows(start[:, 1], size[1], w), axis=2, batch_dims=1)
        return out, lambda g: periodic_place(g, start, (h, w))

    return cut(images)


def periodic_place(windows, start, size):
    """The adjoint of a periodic window: ``windows`` ``[B, h, w, ...]`` put back into images of ``size``
    ``(H, W)`` at their ``start`` (wrapping around), zero elsewhere.

    As gathers (a scatter costs several times more): pixel (y, x) of the image is window pixel
    ((y - start_y) mod H, ...) when that is inside the window.

    >>> import tensorflow as tf
    >>> periodic_place(tf.ones((1, 2, 2)), tf.constant([[2, 0]]), (3, 3)).numpy()[0].tolist()
    [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    (h, w), (wh, ww) = size, windows.shape[1:3]
    pad = [[0, 0], [0, h - wh], [0, w - ww]] + [[0, 0]] * (windows.shape.rank - 3)
    g = tf.gather(tf.pad(windows, pad), _rows(-start[:, 0], h, h), axis=1, batch_dims=1)
    return tf.gather(g, _rows(-start[:, 1], w, w), axis=2, batch_dims=1)


def standard(size):
    """Lucid's standard transforms, scaled to an image of ``size`` pixels (lucid's are for 128+):
    pad, jitter, zoom by ±5%, turn by up to 10° (often not at all), jitter again."""
    unit = max(1, round(size / 32))
    return compose([
        pad(3 * unit),
        jitter(2 * unit),
        random_scale([1 + (i - 5) / 100 for i in range(11)]),
        random_rotate(list(range(-10, 11)) + 5 * [0]),
        jitter(unit),
    ])

"""Image parameterizations for feature visualization: what the optimiser actually changes.

A parameterization turns a few variables into a batch of images ``[B, H, W, C]`` in ``[0, 1]``
(the renderer maps them to the model's input range). Three are provided:

- :class:`Pixel`: the pixels themselves (through a sigmoid).
- :class:`Fourier`: the image's spectrum, scaled by 1/frequency so that all frequencies learn at
  the same rate, with decorrelated colour (Olah et al. 2017): much less high-frequency noise.
- :class:`Maco`: MACO (Fel et al. 2023): the spectrum's magnitude is fixed to that of natural
  images and only its phase is optimised, which keeps images readable in deep layers.

Colour decorrelation: the optimiser works on colour channels that are uncorrelated in natural images
(:class:`ColorCorrelation`), estimated from the user's images when given, else lucid's ImageNet one.

>>> import numpy as np
>>> p = Fourier((16, 16, 3))
>>> variables = p.init(2, seed=0)
>>> tuple(p.image(variables).shape)
(2, 16, 16, 3)
"""
import numpy as np
import tensorflow as tf

# sqrt of ImageNet's colour covariance (the colour_correlation_svd_sqrt lucid uses).
_IMAGENET_SQRT = np.array([[0.26, 0.09, 0.02],
                           [0.27, 0.00, -0.05],
                           [0.27, -0.09, 0.03]], np.float64)


# How far the sigmoid is stretched before clipping to [0, 1].
STRETCH = 1.3


class ColorCorrelation:
    """A linear map from decorrelated colour channels to the image's channels, and back.

    ``matrix`` is a square root of the channels' covariance (``M @ M.T ∝ cov``), scaled so its
    largest column has norm 1, so unit-variance decorrelated noise gets the image's colour
    statistics.

    >>> import numpy as np
    >>> c = ColorCorrelation.standard(3)
    >>> x = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    >>> bool(np.allclose(c.to_decorrelated(c.to_image(x)), x, atol=1e-5))
    True
    """

    def __init__(self, matrix):
        matrix = np.asarray(matrix, np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"a colour correlation must be a square matrix, got shape {matrix.shape}")
        self.matrix = (matrix / np.max(np.linalg.norm(matrix, axis=0))).astype(np.float32)
        self.inverse = np.linalg.pinv(self.matrix.astype(np.float64)).astype(np.float32)

    @classmethod
    def standard(cls, channels):
        """lucid's ImageNet colour correlation for RGB; identity for other channel counts."""
        return cls(_IMAGENET_SQRT if channels == 3 else np.eye(channels))

    @classmethod
    def from_images(cls, images):
        """Estimated from images ``[N, H, W, C]``: the square root of their pixel colour covariance."""
        x = np.asarray(images, np.float64)
        if x.ndim != 4:
            raise ValueError(f"images must be [N, H, W, C] to estimate colour correlation, got {x.shape}")
        x = x.reshape(-1, x.shape[-1])
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) < 2:
            raise ValueError("need finite pixels to estimate the colour correlation")
        cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
        values, vectors = np.linalg.eigh(cov)
        sqrt = vectors * np.sqrt(np.maximum(values, 1e-6 * max(values.max(), 1e-12)))
        return cls(sqrt)

    def to_image(self, t):
        """Decorrelated channels (last axis) → image channels."""
        return _mix(self.matrix, t)

    def to_decorrelated(self, t):
        """Image channels → decorrelated channels (the inverse of :meth:`to_image`)."""
        return _mix(self.inverse, t)


def _mix(matrix, t):
    """``matrix @ pixel`` for every pixel of ``t`` (channels last), as one matrix product: a broadcast
    ``matvec`` would run one tiny product per pixel, which costs more than the model's convolutions."""
    t = tf.convert_to_tensor(t, tf.float32)
    flat = tf.reshape(t, [-1, matrix.shape[0]])
    return tf.reshape(tf.matmul(flat, tf.constant(matrix.T)), tf.shape(t))


def _mix_axis(matrix, t, axis):
    """``matrix @ t`` along ``axis``, spelled out as sums of scaled slices: XLA fuses them into one pass,
    where an einsum becomes a transpose, a matrix product and a transpose back."""
    channels = tf.unstack(t, matrix.shape[1], axis=axis)
    return tf.stack([sum(float(matrix[j, i]) * x for i, x in enumerate(channels)) for j in range(matrix.shape[0])],
                    axis=axis)


def frequencies(h, w):
    """Radial frequency of each coefficient of ``rfft2`` of an ``h × w`` image, ``[h, w // 2 + 1]``."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class Param:
    """Base of the parameterizations: ``init`` makes the variables, ``image`` the images in [0, 1]."""

    name = "param"
    batch_axis = 0  # the axis of the variables that indexes the images

    def __init__(self, shape, color=None):
        h, w, c = (int(s) for s in shape)
        if min(h, w, c) < 1:
            raise ValueError(f"image shape must be (H, W, C) with positive sizes, got {shape}")
        self.shape = (h, w, c)
        self.color = color if color is not None else ColorCorrelation.standard(c)
        if self.color.matrix.shape[0] != c:
            raise ValueError(f"colour correlation is {self.color.matrix.shape[0]}×{self.color.matrix.shape[0]} "
                             f"but images have {c} channels")

    def init(self, batch, seed=0):
        """Fresh variables for ``batch`` images, the same for the same seed."""
        return [tf.Variable(v, trainable=True) for v in self.initial_values(batch, seed)]

    def initial_values(self, batch, seed):
        raise NotImplementedError

    def spatial(self, variables):
        """The images before colour mixing and the sigmoid: ``[B, H, W, C]`` in decorrelated colour."""
        raise NotImplementedError

    def image(self, variables):
        """The images ``[B, H, W, C]`` in [0, 1]."""
        return squash(self.pre(variables))

    def pre(self, variables):
        """The images before the squashing into [0, 1] (:func:`squash`): colour-mixed, unbounded."""
        return self.color.to_image(self.spatial(variables))

    def pre_gradient(self, variables, grad):
        """The gradient on the variables of ``sum(grad * pre(variables))``."""
        with tf.GradientTape() as tape:
            pre = self.pre(variables)
        return tape.gradient(pre, variables, output_gradients=grad)


def squash(pre):
    """Unbounded values → [0, 1]: a sigmoid stretched by 30% and clipped, so that the extremes 0 and 1,
    which real images hold (a saturated colour), are reached instead of approached forever."""
    return tf.clip_by_value(STRETCH * (tf.sigmoid(pre) - 0.5) + 0.5, 0.0, 1.0)


def squash_slope(images):
    """The derivative of :func:`squash` where it gave ``images`` (0 where it clipped), read back from the
    images themselves (the stretched sigmoid is invertible where it does not clip), so that a step keeps
    nothing but its images for the gradient.

    >>> import numpy as np, tensorflow as tf
    >>> pre = tf.constant([-3.0, -0.5, 0.0, 1.0, 3.0])
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(pre)
    ...     images = squash(pre)
    >>> bool(np.allclose(squash_slope(images), tape.gradient(images, pre), atol=1e-6))
    True
    """
    s = (images - 0.5) / STRETCH + 0.5
    return tf.where((images > 0.0) & (images < 1.0), STRETCH * s * (1.0 - s), 0.0)


class Pixel(Param):
    """Each pixel is a variable (through the colour decorrelation and a sigmoid)."""

    name = "pixel"

    def initial_values(self, batch, seed):
        rng = np.random.default_rng(seed)
        return [rng.normal(0, 0.01, (batch,) + self.shape).astype(np.float32)]

    def spatial(self, variables):
        return variables[0]


class Fourier(Param):
    """The spectrum of each channel, scaled by ``1 / frequency ** decay_power`` (lucid's ``fft_image``).

    The variables are one array ``[2, H, B, C, W // 2 + 1]`` (real and imaginary parts, then the
    frequency row), so that :meth:`window_pre` reads them as one matrix of rows.
    """

    name = "fourier"
    batch_axis = 2

    def __init__(self, shape, color=None, decay_power=1.0):
        super().__init__(shape, color)
        h, w, _ = self.shape
        freqs = frequencies(h, w)
        # sqrt(h*w) undoes irfft2d's 1/(h*w), so a coefficient moves pixels as much at any size (as lucid).
        self.scale = (np.sqrt(h * w) / np.maximum(freqs, 1.0 / max(h, w)) ** decay_power).astype(np.float32)
        # lucid's /4: keeps the initial image's contrast low, so the sigmoid starts in its linear part.
        self._scale = (self.scale / 4.0)[:, None, None, :]  # [H, 1, 1, W//2+1]
        # How often each stored coefficient counts in the image: twice, except the columns that rfft stores
        # whole (frequency 0 and, for even widths, W/2). irfft2d's adjoint is rfft2d weighted by it.
        self._counts = np.full(w // 2 + 1, 2.0)
        self._counts[0] = 1.0
        if w % 2 == 0:
            self._counts[-1] = 1.0
        self._adjoint_scale = (self._scale * self._counts / (h * w)).astype(np.float32)
        self._tables = {}

    def initial_values(self, batch, seed):
        h, w, c = self.shape
        rng = np.random.default_rng(seed)
        # Drawn [(real, imaginary), B, C, H, W//2+1] (the same images as before the layout changed).
        return [np.transpose(rng.normal(0, 0.01, (2, batch, c, h, w // 2 + 1)), (0, 3, 1, 2, 4)).astype(np.float32)]

    def _image_of(self, coefficients, mix=None):
        """``[2, H, B, C, W//2+1]`` coefficients → ``[B, H, W, C]`` image (colours mixed by ``mix``)."""
        h, w, _ = self.shape
        x = coefficients * self._scale
        spectrum = tf.transpose(tf.complex(x[0], x[1]), [1, 2, 0, 3])  # [B, C, H, W//2+1]
        image = tf.signal.irfft2d(spectrum, fft_length=[h, w])
        # Colours mix after the inverse transform, in the pass that puts the channels last.
        return tf.transpose(image if mix is None else _mix_axis(mix, image, axis=1), [0, 2, 3, 1])

    def spatial(self, variables):
        return self._image_of(variables[0])

    def pre(self, variables):
        return self._image_of(variables[0], self.color.matrix)

    def pre_gradient(self, variables, grad):
        # By hand: TensorFlow's gradient of irfft2d costs several times this rfft2d and scaling.
        grad = _mix_axis(self.color.matrix.T, tf.transpose(grad, [0, 3, 1, 2]), axis=1)  # [B, C, H, W]
        spectrum = tf.transpose(tf.signal.rfft2d(grad), [2, 0, 1, 3])  # [H, B, C, W//2+1]
        return [tf.stack([tf.math.real(spectrum), tf.math.imag(spectrum)]) * self._adjoint_scale]

    def window_pays(self, size):
        """Whether :meth:`window_pre` (matrix products, cost ~ H·h·W per image and channel) is cheaper than
        the inverse FFT of the whole image and a crop: for a window smaller than the image, measured up to 256
        pixels a side (a step of the demo CNN's conv2, 32 units, 5/8 windows: 96² 18 vs 24 ms, 128² 43 vs
        64 ms, 256² 154 vs 253 ms); the whole image is made faster by the FFT."""
        return max(self.shape[:2]) <= 256 and tuple(size) != self.shape[:2]

    def window_pre(self, variables, start, size):
        """:meth:`pre` seen through a periodic window, ``[B, h, w, C]``: pixel ``(i, j)`` of image ``b`` is the
        image's pixel ``((start[b, 0] + i) mod H, (start[b, 1] + j) mod W)``.

        The window is synthesized from the spectrum directly: the shift is a phase ramp on the
        coefficients, the crop an inverse DFT to just its rows and columns (matrix products), so pixels
        outside the window are never made. The same numbers as ``pre`` and a crop, to rounding.

        >>> import numpy as np, tensorflow as tf
        >>> p = Fourier((8, 8, 3))
        >>> v = p.init(2, seed=1)
        >>> window = p.window_pre(v, tf.constant([[5, 0], [0, 7]]), (3, 4))
        >>> full = np.tile(p.pre(v).numpy(), (1, 2, 2, 1))
        >>> bool(np.allclose(window[1], full[1, 0:3, 7:11], atol=1e-6)), tuple(window.shape)
        (True, (2, 3, 4, 3))
        """
        rows, cos, sin = self._window(size)
        _, hh, batch, channels, k = variables[0].shape
        h, w = size
        ramp_re, ramp_im = self._ramp(start)
        re, im = variables[0][0], variables[0][1]
        shifted = tf.stack([re * ramp_re - im * ramp_im, re * ramp_im + im * ramp_re])
        # Rows, complex: [(real, imaginary) × h, (real, imaginary) × H] @ [.., (B, C, column)], one product
        # for each part of the result (slicing one result would copy it).
        shifted = tf.reshape(shifted, [2 * hh, -1])
        re, im = (tf.reshape(tf.matmul(rows[i * h:(i + 1) * h], shifted), [-1, k]) for i in (0, 1))
        # Columns, real part only: [(h, B, C), column] @ [column, w], for the real and the imaginary parts.
        x = tf.reshape(tf.matmul(re, cos) - tf.matmul(im, sin), [h, batch, channels, w])
        return _mix_axis(self.color.matrix, tf.transpose(x, [1, 0, 3, 2]), axis=3)

    def window_pre_gradient(self, variables, start, size, grad):
        """The gradient on the variables of ``sum(grad * window_pre(variables, start, size))`` (the exact
        adjoint: the transposed products and the conjugate ramp)."""
        rows, cos, sin = self._window(size)
        _, hh, batch, channels, k = variables[0].shape
        h, w = size
        g = tf.reshape(tf.transpose(_mix_axis(self.color.matrix.T, grad, axis=3), [1, 0, 3, 2]), [-1, w])
        part = tf.reshape(tf.stack([tf.matmul(g, cos, transpose_b=True), -tf.matmul(g, sin, transpose_b=True)]),
                          [2 * h, -1])
        d = tf.reshape(tf.matmul(rows, part, transpose_a=True), [2, hh, batch, channels, k])
        ramp_re, ramp_im = self._ramp(start)
        return [tf.stack([d[0] * ramp_re + d[1] * ramp_im, d[1] * ramp_re - d[0] * ramp_im])]

    def _ramp(self, start):
        """The phase ramp ``e^{2πi (start_y·row/H + start_x·column/W)}`` of each image's shift, times the
        coefficients' scale: ``[H, B, 1, W//2+1]`` real and imaginary parts, from tables (no trigonometry
        per step)."""
        if "ramp" not in self._tables:
            h, w, _ = self.shape
            angle_y = 2 * np.pi * np.outer(np.arange(h), np.arange(h)) / h  # [shift, row]
            angle_x = 2 * np.pi * np.outer(np.arange(w), np.arange(w // 2 + 1)) / w  # [shift, column]
            self._tables["ramp"] = [np.stack([np.cos(a), np.sin(a)]).astype(np.float32) for a in (angle_y, angle_x)]
        table_y, table_x = self._tables["ramp"]
        ey = tf.transpose(tf.gather(table_y, start[:, 0], axis=1), [2, 0, 1])[:, :, :, None]  # [H, 2, B, 1]
        ex = tf.gather(table_x, start[:, 1], axis=1)[None]  # [1, 2, B, W//2+1]
        scale = self._scale[:, 0]  # [H, 1, W//2+1]
        ramp_re = (ey[:, 0] * ex[:, 0] - ey[:, 1] * ex[:, 1]) * scale
        ramp_im = (ey[:, 0] * ex[:, 1] + ey[:, 1] * ex[:, 0]) * scale
        return ramp_re[:, :, None], ramp_im[:, :, None]

    def _window(self, size):
        """The inverse DFT to the window's rows, complex as a real block matrix ``[[cos, -sin], [sin, cos]]``
        ``[2h, 2H]``, and, real part only, to its columns: ``cos``, ``sin`` ``[W//2+1, w]`` (weighted by how
        often each column counts, and irfft2d's 1/(H·W))."""
        size = tuple(int(s) for s in size)
        if size not in self._tables:
            (hh, ww, _), (h, w) = self.shape, size
            angle_y = 2 * np.pi * np.outer(np.arange(h), np.arange(hh)) / hh
            cy, sy = np.cos(angle_y), np.sin(angle_y)
            angle_x = 2 * np.pi * np.outer(np.arange(ww // 2 + 1), np.arange(w)) / ww
            weight = self._counts[:, None] / (hh * ww)
            self._tables[size] = tuple(a.astype(np.float32) for a in (
                np.block([[cy, -sy], [sy, cy]]), np.cos(angle_x) * weight, np.sin(angle_x) * weight))
        return self._tables[size]


class Maco(Param):
    """MACO: fixed natural-image magnitude spectrum, optimised phase (Fel et al. 2023).

    ``magnitude`` ``[C, H, W // 2 + 1]``: the spectrum magnitude to keep; by default the mean of
    ``images`` when given (in decorrelated colour), else a 1/frequency spectrum. The image is
    standardised per image and channel before the sigmoid, so only the phase decides its content.
    """

    name = "maco"

    def __init__(self, shape, color=None, magnitude=None, images=None):
        super().__init__(shape, color)
        h, w, c = self.shape
        if magnitude is None and images is not None:
            magnitude = natural_magnitude(images, (h, w), self.color)
        if magnitude is None:
            magnitude = np.broadcast_to(1.0 / np.maximum(frequencies(h, w), 1.0 / max(h, w)), (c, h, w // 2 + 1))
        magnitude = np.asarray(magnitude, np.float32)
        if magnitude.shape != (c, h, w // 2 + 1):
            raise ValueError(f"MACO magnitude must be [C, H, W//2+1] = {(c, h, w // 2 + 1)}, got {magnitude.shape}")
        self.magnitude = magnitude.copy()

    def initial_values(self, batch, seed):
        h, w, c = self.shape
        rng = np.random.default_rng(seed)
        return [rng.uniform(-np.pi, np.pi, (batch, c, h, w // 2 + 1)).astype(np.float32)]

    def linear(self, variables):
        """The spatial signal ``[B, C, H, W]`` whose rfft2 magnitude is exactly ``magnitude``."""
        h, w, _ = self.shape
        phase = self._hermitian(variables[0])
        spectrum = tf.complex(self.magnitude * tf.cos(phase), self.magnitude * tf.sin(phase))
        return tf.signal.irfft2d(spectrum, fft_length=[h, w])

    def _hermitian(self, phase):
        """The phase made odd (φ(-k) = -φ(k)) along the columns that rfft2 stores whole (frequency 0 and,
        for even widths, W/2), as the spectrum of a real image must be: else irfft2d would change the
        magnitude there."""
        h, w, _ = self.shape
        mirrored = tf.gather(phase, (-np.arange(h)) % h, axis=2)
        odd = 0.5 * (phase - mirrored)
        columns = np.zeros(w // 2 + 1, bool)
        columns[0] = True
        columns[-1] = w % 2 == 0
        return tf.where(tf.constant(columns), odd, phase)

    def spatial(self, variables):
        img = self.linear(variables)
        mean, var = tf.nn.moments(img, axes=[2, 3], keepdims=True)
        return tf.transpose((img - mean) / tf.sqrt(var + 1e-8), [0, 2, 3, 1])


def natural_magnitude(images, size, color):
    """Mean rfft2 magnitude ``[C, H, W//2+1]`` of images (resized to ``size``) in decorrelated colour."""
    x = tf.image.resize(tf.convert_to_tensor(np.asarray(images, np.float32)), size)
    x = color.to_decorrelated(x - tf.reduce_mean(x, axis=[1, 2], keepdims=True))
    spectrum = tf.signal.rfft2d(tf.transpose(x, [0, 3, 1, 2]))
    return tf.reduce_mean(tf.abs(spectrum), axis=0).numpy()


PARAMS = {"pixel": Pixel, "fourier": Fourier, "maco": Maco}


def make(param, shape, images=None):
    """A parameterization from its name (``"pixel"``, ``"fourier"``, ``"maco"``) or a :class:`Param`.

    ``images``, when given, set the colour correlation (and MACO's magnitude spectrum).

    >>> make("maco", (8, 8, 3)).name
    'maco'
    """
    if isinstance(param, Param):
        return param
    if param not in PARAMS:
        raise ValueError(f"param must be one of {sorted(PARAMS)} or a Param instance, got {param!r}")
    color = None
    if images is not None and np.ndim(images) == 4 and np.shape(images)[-1] == shape[-1]:
        color = ColorCorrelation.from_images(images)
    if param == "maco":
        return Maco(shape, color, images=images if color is not None else None)
    return PARAMS[param](shape, color)

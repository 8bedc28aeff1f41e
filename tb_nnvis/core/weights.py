"""Parameters beside activity: each unit's incoming weights, their norms, and update-to-weight ratios.

A unit's *kernel* is the slice of a layer's kernel that feeds it: for ``Dense`` the column ``[inputs]``,
for ``Conv2D`` the filter ``[kh, kw, in_channels]`` (``Conv1D``/``Conv3D`` alike), for
``DepthwiseConv2D`` the one-channel filter ``[kh, kw, 1]``. The *update ratio* of a layer is
``||W_after - W_before|| / ||W_before||`` over all its weights (kernel and bias) across one optimizer
step: values far from about 1e-3 flag a learning rate too high or too low (Karpathy's rule of thumb).

Example:

>>> import keras, numpy as np
>>> conv = keras.layers.Conv2D(4, 3)
>>> conv.build((None, 8, 8, 3))
>>> unit_kernels(conv).shape                  # [units, kh, kw, in_channels]
(4, 3, 3, 3)
>>> bool(np.allclose(unit_kernels(conv)[2], conv.get_weights()[0][..., 2]))
True
>>> round(update_ratio([np.ones(4)], [np.ones(4) * 1.001]), 9)
0.001
"""
import numpy as np

_CONV = ("Conv1D", "Conv2D", "Conv3D")


class WeightsError(ValueError):
    """A layer whose per-unit weights we cannot show; the message names it and says why."""


def unit_kernels(layer):
    """The incoming weights of each unit of ``layer``, units first, as float32 numpy.

    Supports ``Dense``, ``Conv1D``/``Conv2D``/``Conv3D`` (and subclasses) and ``DepthwiseConv2D``.
    Raises :class:`WeightsError` for a layer without weights, one that was never built, or one whose
    kernel layout is not known.
    """
    import keras

    kind = _kind(layer)
    if not layer.built or getattr(layer, "kernel", None) is None:
        raise WeightsError(f"layer {layer.name!r} ({type(layer).__name__}) has no weights yet: build the model "
                           "(keras.Input, model.build or one call on data) first")
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float32)
    if kind == "DepthwiseConv2D":  # [kh, kw, in, multiplier]: unit c * multiplier + m reads channel c only
        kh, kw, cin, mult = kernel.shape
        return np.ascontiguousarray(kernel.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[..., None])
    return np.ascontiguousarray(np.moveaxis(kernel, -1, 0))


def _kind(layer):
    import keras

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "DepthwiseConv2D"
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)) and \
            not isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                                   keras.layers.Conv3DTranspose, keras.layers.SeparableConv1D,
                                   keras.layers.SeparableConv2D)):
        return "Conv"
    if isinstance(layer, keras.layers.Dense):
        return "Dense"
    if not layer.weights:
        raise WeightsError(f"layer {layer.name!r} ({type(layer).__name__}) has no weights to show; "
                           "choose a Dense or convolution layer")
    raise WeightsError(f"layer {layer.name!r} ({type(layer).__name__}) has weights but no per-unit kernel we "
                       "know how to slice (Dense, Conv1D/2D/3D and DepthwiseConv2D are supported)")


def has_unit_kernels(layer):
    """Whether :func:`unit_kernels` supports ``layer`` (without raising)."""
    try:
        _kind(layer)
    except WeightsError:
        return False
    return True


def unit_norms(kernels):
    """The L2 norm of each unit's incoming weights, from :func:`unit_kernels`' ``[units, ...]``.

    >>> unit_norms(np.array([[3.0, 4.0], [0.0, 1.0]])).tolist()
    [5.0, 1.0]
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    return np.sqrt((kernels.reshape(len(kernels), -1) ** 2).sum(axis=1)).astype(np.float32)


def update_ratio(before, after):
    """``||after - before|| / ||before||`` over lists of arrays (a layer's weights at two steps).

    NaN when the weights were all zero before; raises ValueError when the shapes differ.
    """
    if len(before) != len(after):
        raise ValueError(f"{len(before)} weights before and {len(after)} after")
    num = den = 0.0
    for b, a in zip(before, after):
        b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"weight shapes differ: {b.shape} before, {a.shape} after")
        num += float(((a - b) ** 2).sum())
        den += float((b ** 2).sum())
    return float(np.sqrt(num) / np.sqrt(den)) if den > 0 else float("nan")


def channels_by_strength(kernel, limit=None):
    """The input channels of one unit's conv kernel ``[..., in_channels]``, strongest (L2 norm) first.

    Returns ``(channels, norms)``: the channel indices and their norms, at most ``limit`` of them.

    >>> k = np.zeros((3, 3, 4)); k[..., 2] = 1; k[0, 0, 0] = 2
    >>> channels, norms = channels_by_strength(k, limit=2)
    >>> channels.tolist(), norms.tolist()
    ([2, 0], [3.0, 2.0])
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    norms = np.sqrt((kernel.reshape(-1, kernel.shape[-1]) ** 2).sum(axis=0))
    order = np.argsort(-norms, kind="stable")[:limit]
    return order, norms[order]

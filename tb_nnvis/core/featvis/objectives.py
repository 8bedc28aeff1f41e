"""What feature visualization maximises: objectives that add, subtract and scale like numbers (as in lucid).

An :class:`Objective` maps what one step of the optimisation sees, a :class:`Scene` (the layer
outputs ``acts[path]`` ``[B, ...]`` for the batch of images, and the images ``[B, H, W, C]`` in
[0, 1]), to one value per image ``[B]``; the renderer maximises their sum. Unit objectives take a
unit index, or one index per image of the batch, so that a whole layer renders as one batch.
Regularisers (:func:`l1`, :func:`total_variation`, :func:`blur`) are penalties (≥ 0): subtract them.

>>> obj = channel("conv2", [0, 1, 2]) - 0.01 * total_variation()
>>> obj.layers, obj.batch
(('conv2',), 3)
"""
import numpy as np
import tensorflow as tf


class Scene:
    """What an objective sees: ``acts`` (``{path: [B, ...]}``) and ``images`` ``[B, H, W, C]`` in [0, 1]."""

    def __init__(self, acts, images):
        self.acts, self.images = acts, images


class Objective:
    """``fn(scene) -> [B]`` values to maximise, with the layers it needs and the batch it implies."""

    def __init__(self, fn, name, layers=(), batch=None):
        self.fn, self.name = fn, name
        self.layers = tuple(dict.fromkeys(layers))
        self.batch = batch

    def __call__(self, scene):
        return self.fn(scene)

    def __repr__(self):
        return self.name

    @staticmethod
    def _lift(other):
        if isinstance(other, Objective):
            return other
        if isinstance(other, (int, float, np.number)):
            value = float(other)
            return Objective(lambda s: tf.fill(tf.shape(s.images)[:1], value), repr(value))
        raise TypeError(f"cannot combine an objective with {type(other).__name__}")

    def _join(self, other, op, symbol):
        other = self._lift(other)
        batches = [b for b in (self.batch, other.batch) if b is not None]
        if len(set(batches)) > 1:
            raise ValueError(f"objectives for different batch sizes {batches} cannot be combined")
        return Objective(lambda s: op(self(s), other(s)), f"({self!r} {symbol} {other!r})",
                         self.layers + other.layers, batches[0] if batches else None)

    def __add__(self, other):
        return self._join(other, tf.add, "+")

    __radd__ = __add__

    def __sub__(self, other):
        return self._join(other, tf.subtract, "-")

    def __rsub__(self, other):
        return self._lift(other) - self

    def __neg__(self):
        return -1.0 * self

    def __mul__(self, scalar):
        if not isinstance(scalar, (int, float, np.number)):
            raise TypeError("objectives scale by numbers; combine objectives with + and -")
        return Objective(lambda s: float(scalar) * self(s), f"{float(scalar):g} * {self!r}", self.layers, self.batch)

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        return self * (1.0 / float(scalar))


def _units(unit):
    """``(tensor of indices or an int, batch implied)``."""
    if isinstance(unit, (int, np.integer)):
        return int(unit), None
    if isinstance(unit, tf.Variable):  # indices the renderer changes between groups of units
        return unit, int(unit.shape[0])
    units = np.asarray(unit, np.int64).reshape(-1)
    if units.size == 0:
        raise ValueError("need at least one unit")
    return tf.constant(units, tf.int32), len(units)


def _unit_values(acts, unit):
    """``acts[..., unit]`` of each image: ``[B, ...]`` (one unit per image when ``unit`` is a tensor)."""
    if isinstance(unit, int):
        return acts[..., unit]
    rank = acts.shape.rank
    return tf.gather(acts, unit[:, None], axis=rank - 1, batch_dims=1)[..., 0]


def _mean_over_positions(values):
    rank = values.shape.rank
    return tf.reduce_mean(values, axis=list(range(1, rank))) if rank > 1 else values


def channel(layer, unit):
    """The mean over positions of a unit's output (one unit, or one per image).

    >>> import tensorflow as tf
    >>> acts = {"c": tf.reshape(tf.range(24.0), (2, 2, 2, 3))}
    >>> channel("c", [0, 2])(Scene(acts, tf.zeros((2, 4, 4, 3)))).numpy().tolist()
    [4.5, 18.5]
    """
    idx, batch = _units(unit)
    return Objective(lambda s: _mean_over_positions(_unit_values(s.acts[layer], idx)),
                     f"channel({layer!r}, {unit if batch is None else '[...]'})", (layer,), batch)


def channel_cossim(layer, unit, power=2.0, floor=0.1):
    """The mean over positions of a unit's output times the cosine of the layer's output vector with the
    unit's axis to the ``power`` (Olah et al.'s ``dot × cossim^p``, a unit's axis as the direction):
    output that other units share counts for less. Other units' negative outputs (a layer tapped before
    its ReLU) count as silence; the cosine is held at least ``floor`` so that a silent unit still has a
    gradient to grow from.

    >>> import tensorflow as tf
    >>> acts = {"c": tf.constant([[[[3.0, 0.0]], [[3.0, 4.0]]]])}  # two positions, two units
    >>> round(float(channel_cossim("c", 0)(Scene(acts, tf.zeros((1, 2, 1, 3))))[0]), 4)  # (3·1 + 3·0.6²) / 2
    2.04
    """
    idx, batch = _units(unit)

    def fn(s):
        acts = s.acts[layer]
        own = _unit_values(acts, idx)
        others = tf.reduce_sum(tf.square(tf.nn.relu(acts)), axis=-1) - tf.square(tf.nn.relu(own))
        cos = own * tf.math.rsqrt(tf.square(own) + others + 1e-12)
        return _mean_over_positions(own * tf.maximum(cos, floor) ** power)

    return Objective(fn, f"channel_cossim({layer!r}, {unit if batch is None else '[...]'}, {power:g})",
                     (layer,), batch)


def neuron(layer, unit, y=None, x=None):
    """A unit's output at one position (the centre by default) of a spatial layer."""
    idx, batch = _units(unit)

    def fn(s):
        values = _unit_values(s.acts[layer], idx)
        if values.shape.rank == 1:
            return values
        if values.shape.rank != 3:
            raise ValueError(f"neuron() needs a [B, H, W, C] layer, {layer!r} has rank {values.shape.rank + 1}")
        yy = values.shape[1] // 2 if y is None else y
        xx = values.shape[2] // 2 if x is None else x
        return values[:, yy, xx]

    return Objective(fn, f"neuron({layer!r}, {unit if batch is None else '[...]'})", (layer,), batch)


def direction(layer, vector):
    """The mean over positions of the layer's output projected on ``vector`` (``[C]``, or ``[B, C]``)."""
    vec = np.asarray(vector, np.float32)
    if vec.ndim not in (1, 2):
        raise ValueError(f"direction needs a [C] or [B, C] vector, got shape {vec.shape}")
    batch = vec.shape[0] if vec.ndim == 2 else None
    vec = vec / np.maximum(np.linalg.norm(vec, axis=-1, keepdims=True), 1e-12)

    def fn(s):
        acts = s.acts[layer]
        v = tf.constant(vec)
        v = tf.reshape(v, [-1] + [1] * (acts.shape.rank - 2) + [vec.shape[-1]])
        return _mean_over_positions(tf.reduce_sum(acts * v, axis=-1))

    return Objective(fn, f"direction({layer!r})", (layer,), batch)


LOGITS = "_logits"  # the layer path the renderer resolves to the model's output before any softmax


def class_logit(unit):
    """The logit of a class: the model's output before a final softmax (the renderer finds it)."""
    objective = channel(LOGITS, unit)
    objective.name = f"class_logit({unit})"
    return objective


def diversity(layer, group=None):
    """Minus the mean cosine similarity of each image's Gram matrix to the others' (lucid's
    diversity): adding it makes images differ from each other. With ``group=k``, only within each run
    of ``k`` consecutive images (several images of each unit in one batch)."""

    def fn(s):
        acts = s.acts[layer]
        c = acts.shape[-1]
        k = group or tf.shape(acts)[0]
        flat = tf.reshape(acts, [-1, k, tf.reduce_prod(tf.shape(acts)[1:-1]), c])  # [groups, k, positions, C]
        gram = tf.linalg.matmul(flat, flat, transpose_a=True)  # [groups, k, C, C]
        gram = tf.math.l2_normalize(tf.reshape(gram, [-1, k, c * c]), axis=-1)
        sim = tf.linalg.matmul(gram, gram, transpose_b=True)  # [groups, k, k]
        others = tf.maximum(tf.cast(k, tf.float32) - 1, 1.0)
        return tf.reshape(-(tf.reduce_sum(sim, axis=-1) - tf.linalg.diag_part(sim)) / others, [-1])

    return Objective(fn, f"diversity({layer!r})", (layer,))


def l1(constant=0.5):
    """Penalty: the mean absolute difference of the image from ``constant`` (grey)."""
    return Objective(lambda s: tf.reduce_mean(tf.abs(s.images - constant), axis=[1, 2, 3]), "l1()")


def total_variation():
    """Penalty: the mean absolute difference between neighbouring pixels."""

    def fn(s):
        x = s.images
        dy = tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=[1, 2, 3])
        dx = tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=[1, 2, 3])
        return dx + dy

    return Objective(fn, "total_variation()")


def blur(sigma=1.0):
    """Penalty: half the mean squared distance of the image to its own blurred copy (held fixed),
    which pulls it towards smoothness a little at every step (lucid's blur_input_each_step)."""
    radius = max(1, int(round(2 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)

    def fn(s):
        x = s.images
        c = x.shape[-1]
        kernel = tf.constant(np.outer(k, k)[:, :, None, None] * np.ones((1, 1, c, 1), np.float32))
        blurred = tf.nn.depthwise_conv2d(tf.pad(x, [[0, 0], [radius] * 2, [radius] * 2, [0, 0]], "SYMMETRIC"),
                                         kernel, [1, 1, 1, 1], "VALID")
        return 0.5 * tf.reduce_mean(tf.square(x - tf.stop_gradient(blurred)), axis=[1, 2, 3])

    return Objective(fn, f"blur({sigma:g})")

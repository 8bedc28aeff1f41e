"""Feature visualization by regularised activation maximisation: many units as one batch, one compiled loop.

:func:`render` synthesizes, for every unit of a layer, the image that excites it most. All images
are optimised together (one image per unit in the batch), inside one ``tf.function`` that runs a
chunk of Adam steps per call, so a whole layer costs about what one image costs in Python overhead.
Each step: parameterization → random transforms → the model's input range → the layer's outputs
→ objective; the gradient of the objective also accumulates, per pixel, into MACO's transparency
map (Fel et al. 2023): where in the image the objective's gradient went.

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv")])
>>> result = render(model, "conv", steps=8, verbose=False)
>>> result.images.shape, result.values.shape, result.units.tolist()
((4, 16, 16, 3), (4,), [0, 1, 2, 3])
"""
import numpy as np
import tensorflow as tf

from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core.featvis import model as model_lib
from tb_nnvis.core.featvis import objectives as obj_lib
from tb_nnvis.core.featvis import param as param_lib
from tb_nnvis.core.featvis import transforms as tr_lib
from tb_nnvis.core.featvis.result import Progress, Result


POLISH_LR = 2.0  # the polish's learning rate, relative to the search's


class Renderer:
    """The compiled optimisation for one model, layer and batch; reusable (the weights are read live).

    Build it once and call :meth:`run` as often as needed, e.g. at every epoch of training: the
    traced function is kept. Arguments are those of :func:`render`; ``batch_size`` caps how many
    images are optimised at once (a layer with more units runs in several groups).
    """

    def __init__(self, model, layer, units=None, size=None, param="fourier", objective=None, value_range=None,
                 data=None, transforms="window", learning_rate=0.05, batch_size=64, cossim_power=2.0):
        graph, (h, w, c) = model_lib.input_shape(model)
        self.model = model
        self.path = taps_lib.resolve(model, [layer])[0] if objective is None or layer is not None else None
        if size is None:
            size = (h, w) if h is not None and w is not None else (128, 128)
        size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        self.size, self.model_size = size, (h or size[0], w or size[1])
        if data is not None:
            data = np.asarray(data, np.float32)
            if not np.isfinite(data).all():
                raise ValueError("data holds NaN or Inf; pass finite images to read the value range from")
        if value_range is None:
            value_range = (float(data.min()), float(data.max())) if data is not None else (0.0, 1.0)
        lo, hi = (float(v) for v in value_range)
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        self.value_range = (lo, hi)
        self.param = param_lib.make(param, size + (c,), images=data)
        self.transform = {"window": tr_lib.Window(), "standard": tr_lib.standard(max(size))}.get(
            transforms, transforms) if isinstance(transforms, str) else transforms
        if self.transform is not None and not isinstance(self.transform, tr_lib.Transform):
            raise TypeError(f"transforms must be 'window', 'standard', None or a Transform, got {transforms!r}")
        self.learning_rate = float(learning_rate)
        self._lr = tf.Variable(self.learning_rate, trainable=False)  # lowered for the settling steps

        if objective is None:
            n_units = self._unit_count(model)
            all_units = np.arange(n_units) if units is None else np.asarray(units, np.int64).reshape(-1)
            if all_units.size == 0 or all_units.min() < 0 or all_units.max() >= n_units:
                raise ValueError(f"units of {self.path!r} must be in [0, {n_units}), got {units}")
            self.units = all_units
            self.batch = int(min(len(all_units), batch_size))
            self._unit_var = tf.Variable(np.zeros(self.batch, np.int32), trainable=False)
            objective = obj_lib.channel(self.path, self._unit_var)
            # The transformed phase climbs dot × cossim^p: output this unit shares with the others counts
            # for less, so the search heads for what is this unit's own, then the polish maximises the
            # plain channel mean that is judged.
            self._search = (obj_lib.channel_cossim(self.path, self._unit_var, cossim_power) if cossim_power
                            else objective)
        else:
            if not isinstance(objective, obj_lib.Objective):
                raise TypeError(f"objective must be an Objective (see tb_nnvis.featvis), got {type(objective).__name__}")
            self.batch = int(objective.batch or (len(units) if units is not None else 1))
            self.units, self._unit_var = np.full(self.batch, -1), None
            self._search = objective
        self.objective = objective
        if not objective.layers:
            raise ValueError(f"objective {objective!r} looks at no layer; add a unit objective to it")
        self._taps = model_lib.tap_fn(model, graph, objective.layers, pre_activation=True)
        self._taps_shown = model_lib.tap_fn(model, graph, objective.layers)
        if isinstance(self.transform, tr_lib.Window) and not self._takes(self.transform.size(*self.model_size), c):
            # A model that needs its full input size (a Dense on flattened maps) sees the whole image,
            # still shifted over its period.
            self.transform = tr_lib.Window(1.0, min_size=0)

        self.variables = self.param.init(self.batch)
        self._m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self._v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self._t = tf.Variable(0.0, trainable=False)
        self._saliency = tf.Variable(tf.zeros((self.batch,) + size), trainable=False)
        self._generator = tf.random.Generator.from_seed(0)
        # Each renderer's functions are callables of their own (see _Call): two traces each (transformed and
        # polish steps) would otherwise read as retracing across a layer's renderers.
        self._steps = tf.function(_Call(self._run_steps), autograph=False)
        # The parameterization and its gradient compile with XLA (fused: several times faster than op by op);
        # the model stays out of it, as XLA's CPU convolutions are several times slower than oneDNN's.
        self._forward = tf.function(_Call(self._images), jit_compile=True)
        self._backward = tf.function(_Call(self._gradient), jit_compile=True)
        self._window = self._direct_window(c)
        # The objectives and their gradients fused by XLA: op by op, they cost about as much as the layer's
        # own convolution. {transformed: fn(acts, images) -> values}
        window = self.transform.size(*self.model_size) if isinstance(self.transform, tr_lib.Window) else self.model_size
        self._objectives = {
            True: self._fused(self._search, window, self._window or self.size, self._taps),
            False: self._fused(self.objective, self.model_size, self.size, self._taps_shown)}
        self._forward_window = tf.function(_Call(self._window_images), jit_compile=True)
        self._backward_window = tf.function(_Call(self._window_gradient), jit_compile=True)
        self._evaluate = tf.function(_Call(self._values), autograph=False)
        self._means = tf.function(_Call(self._unit_means), autograph=False)

    def _fused(self, objective, model_size, size, taps):
        """``objective`` as ``fn(acts, images) -> values`` compiled by XLA, or op by op where XLA cannot."""
        channels = self.param.shape[2]
        fused = tf.function(_Call(lambda a, x: objective(obj_lib.Scene(a, x))), jit_compile=True)
        try:
            fused(taps(tf.zeros((self.batch,) + tuple(model_size) + (channels,))),
                  tf.zeros((self.batch,) + tuple(size) + (channels,)))
            return fused
        except Exception:  # noqa: BLE001 - e.g. a custom objective with an op XLA cannot compile
            return lambda a, x: objective(obj_lib.Scene(a, x))

    def _direct_window(self, channels):
        """The window size when the transformed steps can make just the window the model sees from the
        parameterization (:meth:`~.param.Fourier.window_pre`: no pixel outside it is made, no crop), else
        None. That needs a :class:`~.transforms.Window` the model sees as it is (no resize), a
        parameterization that has ``window_pre`` and where it pays, and an objective whose gradient comes
        from the layers alone (not from penalties on the whole image, which is not made)."""
        if not isinstance(self.transform, tr_lib.Window) or not hasattr(self.param, "window_pre"):
            return None
        window = self.transform.size(*self.size)
        if window != self.transform.size(*self.model_size) or not self.param.window_pays(window):
            return None
        images = tf.zeros((self.batch,) + self.size + (channels,))
        acts = self._taps(tf.zeros((self.batch,) + window + (channels,)))
        with tf.GradientTape() as tape:
            tape.watch(images)
            value = self._search(obj_lib.Scene(acts, images))
        return window if tape.gradient(value, images) is None else None

    def _takes(self, window, channels):
        """Whether the model up to the objective's layers runs on a ``window``-sized input."""
        try:
            self._taps(tf.zeros((1,) + tuple(window) + (channels,)))
            return True
        except Exception:  # noqa: BLE001 - any failure means: give the model its full input size
            return False

    def _unit_count(self, model):
        out = taps_lib._symbolic(model, {self.path})[self.path]
        units = out.shape[-1]
        if units is None or len(out.shape) < 2:
            raise ValueError(f"layer {self.path!r} has no unit axis (output shape {tuple(out.shape)})")
        return int(units)

    # ---- the compiled parts --------------------------------------------------------------------------

    def _model_input(self, images01, window=False):
        """Images in [0, 1] → the model's input, in its value range: a window of the image is resized as
        the whole image would be; other images are cropped or padded back to the image size first."""
        x, target = images01, self.model_size
        if window:
            target = self.transform.size(*self.model_size)
        else:
            x = tf.image.resize_with_crop_or_pad(x, *self.size)
        if tuple(x.shape[1:3]) != tuple(target):
            x = tf.image.resize(x, target)
        lo, hi = self.value_range
        return lo + (hi - lo) * x

    def _run_steps(self, n, transformed=True):
        # A graph loop written out rather than left to autograph: autograph re-reads the source of the
        # traced function, which fails when it cannot (a file edited under a running process, frozen apps).
        def step(i, _):
            return i + 1, self._step(transformed)

        return tf.while_loop(lambda i, _: i < n, step, (tf.constant(0), tf.constant(0.0)))[1]

    def _step(self, transformed):
        # One step: the images (XLA) → the gradient of the objective on them through the transform and
        # the model (TensorFlow) → back through the parameterization (XLA) → Adam (TensorFlow).
        objective = self._objectives[transformed]
        if transformed and self._window is not None:
            # Only the window is made, straight in the model's input range (same draws as the transform's).
            start = self.transform.starts(self.batch, *self.size, self._generator)
            seen = self._forward_window(start)
            with tf.GradientTape() as tape:
                tape.watch(seen)
                loss = -tf.reduce_sum(objective(self._taps(seen), seen))
            grads = self._backward_window(tape.gradient(loss, seen), start, seen)
        else:
            images = self._forward()
            with tf.GradientTape() as tape:
                tape.watch(images)
                seen = self.transform(images, self._generator) if transformed and self.transform is not None else images
                # Polish steps optimise exactly what is judged: the layer's real (post-activation) output.
                acts = (self._taps if transformed else self._taps_shown)(
                    self._model_input(seen, window=transformed and isinstance(self.transform, tr_lib.Window)))
                loss = -tf.reduce_sum(objective(acts, images))
            grads = self._backward(tape.gradient(loss, images), images)
        # TensorFlow's fused Adam kernel runs on all cores (an XLA computation runs on one).
        self._t.assign_add(1.0)
        for var, m, v, g in zip(self.variables, self._m, self._v, grads):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle, beta1_power=0.9 ** self._t, beta2_power=0.999 ** self._t,
                lr=self._lr, beta1=0.9, beta2=0.999, epsilon=1e-8, grad=g)
        return loss

    def _images(self):
        """The images in [0, 1]."""
        return param_lib.squash(self.param.pre(self.variables))

    def _gradient(self, grad_images, images):
        """The gradient on the variables from the loss's gradient on the ``images`` of :meth:`_images`."""
        self._saliency.assign_add(tf.reduce_sum(tf.abs(grad_images), axis=-1))
        return self.param.pre_gradient(self.variables, grad_images * param_lib.squash_slope(images))

    def _window_images(self, start):
        """The windows at ``start``, in the model's input range."""
        lo, hi = self.value_range
        return lo + (hi - lo) * param_lib.squash(self.param.window_pre(self.variables, start, self._window))

    def _window_gradient(self, grad_seen, start, seen):
        """The gradient on the variables from the loss's gradient on the windows ``seen`` of
        :meth:`_window_images`; the transparency accumulates where each window lies in the image."""
        lo, hi = self.value_range
        grad = grad_seen * (hi - lo)
        self._saliency.assign_add(tr_lib.periodic_place(tf.reduce_sum(tf.abs(grad), axis=-1), start, self.size))
        slope = param_lib.squash_slope((seen - lo) / (hi - lo))
        return self.param.window_pre_gradient(self.variables, start, self._window, grad * slope)

    def _values(self):
        images = self.param.image(self.variables)
        acts = self._taps_shown(self._model_input(images))
        return self.objective(obj_lib.Scene(acts, images)), images

    def _unit_means(self):
        """``[batch, units]``: each image's (untransformed) channel mean for every unit of the layer."""
        acts = self._taps_shown(self._model_input(self.param.image(self.variables)))[self.path]
        return tf.reduce_mean(acts, axis=list(range(1, acts.shape.rank - 1)))

    def _take(self, source):
        """Image ``i`` of the batch (with its optimiser state and transparency) becomes image ``source[i]``."""
        for var in self.variables + self._m + self._v:
            var.assign(tf.gather(var, source, axis=self.param.batch_axis))
        self._saliency.assign(tf.gather(self._saliency, source))

    def _fresh_optimizer(self):
        for slot in self._m + self._v:
            slot.assign(tf.zeros_like(slot))
        self._t.assign(0.0)

    # ---- running -----------------------------------------------------------------------------------

    def _reset(self, seed, group):
        for var, value in zip(self.variables, self.param.initial_values(self.batch, seed + 7919 * group)):
            var.assign(value)
        self._fresh_optimizer()
        self._lr.assign(self.learning_rate)  # the polish's rate stays until the next render starts
        self._saliency.assign(tf.zeros_like(self._saliency))
        self._generator.reset_from_seed(seed + 7919 * group)

    def run(self, steps=256, seed=0, verbose="auto", chunk=32, polish=None, keep_best=True, settle=4):
        """Optimise ``steps`` steps from the images that ``seed`` gives; returns a :class:`Result`.

        The last ``polish`` steps (default ``steps // 8``) see the image untransformed, as it is
        shown and judged, at ``POLISH_LR`` times the learning rate: the search has found the
        pattern, and the polish climbs its unit's plain channel mean.

        ``keep_best`` (default objective only): a unit ends with the best image found for it
        anywhere in the render. At the start of the polish, each unit takes over the
        image of its batch that excites it most; at the end, the image of the whole render that
        does (``Result.origin`` says whose optimisation found each image). Units of a trained layer
        are often near copies of each other: their searches land in optima of one landscape, and
        the best of them is the best image for all. ``settle`` last steps, from fresh optimiser
        state at a tenth of the learning rate, then move each image up its own unit's gradient, so
        that units that took one image end on its side that excites them more (a fresh Adam step is
        a sign step: it raises its own unit at least as much as any other unit's step does).
        """
        if not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        polish = min(steps // 8 if polish is None else int(polish), steps)
        groups = [self.units[i:i + self.batch] for i in range(0, len(self.units), self.batch)]
        shared = self._unit_var is not None and keep_best
        progress = Progress(steps * len(groups), verbose)
        found = []
        for g, group in enumerate(groups):
            self._reset(int(seed), g)
            slots = np.resize(group, self.batch) if self._unit_var is not None else np.full(self.batch, -1)
            if self._unit_var is not None:
                self._unit_var.assign(slots.astype(np.int32))
            origin = np.arange(self.batch)
            done = 0
            while done < steps:
                transformed = done < steps - polish
                if done == steps - polish and not transformed:
                    self._lr.assign(self.learning_rate * POLISH_LR)
                    if shared and self.batch > 1:
                        best = _best_sources(self._means().numpy()[:, slots], np.arange(self.batch))
                        self._take(best)
                        origin = origin[best]
                n = min(chunk, (steps - polish if transformed else steps) - done)
                self._steps(tf.constant(n), transformed=transformed)
                done += n
                progress.update(g * steps + done)
            if shared:
                found.append(([v.numpy() for v in self.variables], self._saliency.numpy(), slots[origin],
                              self._means().numpy()))
            else:
                found.append(self._finish(len(group), slots[origin] if self._unit_var is not None else origin))
        if shared:
            found = self._take_best(groups, found, settle if steps else 0)
        values, images, sal, origin = (np.concatenate(p) for p in zip(*found))
        lo, hi = self.value_range
        peak = sal.reshape(len(sal), -1).max(axis=1).reshape(-1, 1, 1)
        return Result(images=(lo + (hi - lo) * images).astype(np.float32), values=values.astype(np.float32),
                      units=np.asarray(self.units), transparency=(sal / np.where(peak > 0, peak, 1)).astype(np.float32),
                      value_range=self.value_range, objective=repr(self.objective), origin=origin)

    def _finish(self, k, origin):
        """The first ``k`` images of the batch: (values, images, transparency, origin)."""
        vals, imgs = self._evaluate()
        return vals.numpy()[:k], imgs.numpy()[:k], self._saliency.numpy()[:k], origin[:k]

    def _take_best(self, groups, found, settle):
        """Each unit of each group continues from the image of the whole render that excites it most,
        for ``settle`` steps (see :meth:`run`); the groups' (values, images, transparency, origin)."""
        axis = self.param.batch_axis
        variables = [np.concatenate([f[0][j] for f in found], axis=axis) for j in range(len(self.variables))]
        saliency, owners, means = (np.concatenate([f[i] for f in found]) for i in (1, 2, 3))
        parts = []
        for g, group in enumerate(groups):
            slots = np.resize(group, self.batch)
            best = _best_sources(means[:, slots], g * self.batch + np.arange(self.batch))
            for var, value in zip(self.variables, variables):
                var.assign(np.take(value, best, axis=axis))
            self._saliency.assign(saliency[best])
            self._unit_var.assign(slots.astype(np.int32))
            self._fresh_optimizer()
            if settle:
                self._lr.assign(self.learning_rate / 10)
                self._steps(tf.constant(int(settle)), transformed=False)
                self._lr.assign(self.learning_rate)
            parts.append(self._finish(len(group), owners[best]))
        return parts


def _best_sources(means, own):
    """For each unit (a column of ``means`` ``[image, unit]``), the image that excites it most; a tie keeps
    its own image ``own[unit]`` (a dead unit, 0 on every image, would otherwise take the first).

    >>> _best_sources(np.array([[1.0, 0.0, 5.0], [2.0, 0.0, 1.0]]), np.array([0, 1, 1])).tolist()
    [1, 1, 0]
    """
    units = np.arange(means.shape[1])
    return np.where(means[own, units] >= means.max(axis=0), own, means.argmax(axis=0))


class _Call:
    """``fn`` as a callable of its own for ``tf.function``: TensorFlow's retracing warning counts traces per
    code object, and every renderer traces its own functions once, which would add up to a false alarm."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def render(model, layer, units=None, steps=256, size=None, param="fourier", objective=None, seed=0,
           value_range=None, data=None, transforms="window", learning_rate=0.05, batch_size=64, verbose="auto",
           cossim_power=2.0, keep_best=True):
    """Synthesize the image that excites each unit of ``layer`` most.

    Args:
      model: any Keras 3 image model (Sequential, Functional, nested) with one input ``[H, W, C]``.
      layer: a layer name, path (``"block/conv"``) or layer object, as in :mod:`tb_nnvis.core.taps`.
        May be None when ``objective`` names its own layers.
      units: which units (default: all); one image each.
      steps: optimisation steps (Adam, learning rate 0.05).
      size: the image size (int or (H, W)); default the model's input size. A model with a fixed
        input size sees the image resized to it.
      param: ``"fourier"`` (default), ``"pixel"``, ``"maco"`` or a :class:`~.param.Param`.
      objective: an :class:`~.objectives.Objective` to maximise instead of each unit's channel mean,
        e.g. ``channel("conv2", 3) + 0.5 * diversity("conv2")``; its batch (or ``len(units)``)
        sets how many images are made.
      seed: the same seed gives the same images.
      value_range: ``(low, high)`` of the model's inputs; default ``data``'s range, else (0, 1).
      data: optional images like the model's inputs: their value range, colour correlation (and
        MACO's magnitude spectrum) are used.
      transforms: ``"window"`` (default: a random window of 5/8 of the image, at least 24 pixels,
        taken as periodic, see :class:`~.transforms.Window`), ``"standard"`` (lucid's pad, jitter, scale, rotate: about
        twice as slow), None, or a transform of :mod:`~.transforms`.
      batch_size: how many images are optimised at once (memory); more units run in groups.
      verbose: ``"auto"`` shows a progress bar when the render takes more than a few seconds.
      cossim_power: with the default objective, the transformed steps maximise the unit's output
        times the cosine of the layer's output with the unit's axis to this power
        (:func:`~.objectives.channel_cossim`), the last steps its plain channel mean; 0: the plain
        channel mean throughout.
      keep_best: each unit ends with the best image found for it in the render, whichever unit's
        search found it (``Result.origin``; see :meth:`Renderer.run`). False: each its own search's.

    Returns:
      a :class:`Result` (``images``, ``values``, ``units``, ``transparency``).
    """
    renderer = Renderer(model, layer, units=units, size=size, param=param, objective=objective,
                        value_range=value_range, data=data, transforms=transforms,
                        learning_rate=learning_rate, batch_size=batch_size, cossim_power=cossim_power)
    return renderer.run(steps=steps, seed=seed, verbose=verbose, keep_best=keep_best)

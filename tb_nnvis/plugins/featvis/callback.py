"""``FeatureVisCallback``: synthesized images for every unit of chosen layers, at a few points of training."""
import numpy as np

from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core.featvis import render as render_lib
from tb_nnvis.plugins._budget import names, warn_over
from tb_nnvis.plugins._callback import SummaryCallback, check_count
from tb_nnvis.plugins.featvis import budget, summary


class FeatureVisCallback(SummaryCallback):
    """Write, for each unit of the chosen layers, the image that excites it most, as training goes on.

    At each write, every unit of each layer gets one image made by :func:`tb_nnvis.featvis.render` with
    the current weights (all units of a layer as one batch in one compiled loop), so the dashboard can
    show how the units' preferred images form over training.

    Cost per write: ``steps`` optimisation steps per layer, on a batch of as many images as the layer has
    units (at most 64 at once), on the training thread: a step costs about one forward and backward pass
    of the model up to the layer on that batch at the image's full size (most steps show the model a 5/8
    window of the images; see ``benchmarks/bench_featvis.py``), and the first write also traces and
    XLA-compiles (the demo CNN's two layers with diversity: about 16 s, later writes about 2.5 s on 2 CPU cores); the
    images are written in the background. The default schedule (``every_n_epochs="auto"``) keeps the writes
    after the first within a tenth of the training time; a few ``units`` or fewer ``steps`` make them more frequent.

    Args:
      log_dir: where to write (a directory TensorBoard's ``--logdir`` covers).
      layers: names, paths (``"block/conv"``) or layer objects of the layers to show.
      units: which units of each layer (default all); a list, or ``{layer: list}``.
      every_n_epochs, every_n_batches: when to write (see :class:`~tb_nnvis.plugins._callback.SummaryCallback`);
        the state before training is written too. The default ``"auto"`` writes at epoch ends as often as
        keeps the writes within a tenth of the training time (every epoch when a write is that cheap), and
        the state training ends in: a write of 40 s on a big model comes every 400 s of training.
      steps: optimisation steps per image.
      size: image size (default the model's input size).
      param: ``"fourier"`` (default), ``"pixel"`` or ``"maco"``.
      data: optional example inputs (e.g. ``x_val[:256]``): the model's value range and colour statistics.
      value_range: the model's input range, when ``data`` is not given (default (0, 1)).
      transparency: also write MACO's transparency map of each image.
      diversity: also write this many images per unit made to differ (lucid's diversity objective) for
        the first ``diversity_units`` units of each layer; 0 for none. Costs ``diversity`` times more per unit.
      max_bytes_per_step: the budget of one written step (default 5 MB, estimated from the units and the image
        size before the first render; see :mod:`tb_nnvis.plugins.featvis.budget`). Layers that would write
        more are cut to their first units (which also cuts the time of a write), with a warning that says
        how to change it; None writes every unit.

    >>> import keras, numpy as np, tempfile
    >>> model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    ...                           keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    >>> model.compile("adam", "mse")
    >>> cb = FeatureVisCallback(tempfile.mkdtemp(), layers=["conv"], steps=8)
    >>> _ = model.fit(np.random.rand(8, 12, 12, 3), np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[cb])
    >>> cb.layer_paths, cb.written_steps
    (['conv'], [0, 1])
    """

    name = "feature visualizations"

    def __init__(self, log_dir, layers, units=None, every_n_epochs="auto", every_n_batches=None, steps=256, size=None,
                 param="fourier", data=None, value_range=None, transparency=True, diversity=0, diversity_units=8,
                 max_bytes_per_step=5_000_000):
        super().__init__(log_dir, every_n_epochs, every_n_batches)
        check_count("max_bytes_per_step", max_bytes_per_step)
        self.max_bytes_per_step = max_bytes_per_step
        if layers is None or (isinstance(layers, (list, tuple)) and not layers):
            raise ValueError("layers must name the layers to visualize, e.g. layers=['conv2']")
        check_count("steps", steps)
        check_count("diversity", diversity)
        check_count("diversity_units", diversity_units)
        if param not in ("fourier", "pixel", "maco"):
            raise ValueError(f"param must be 'fourier', 'pixel' or 'maco', got {param!r}")
        if data is not None:
            data = np.asarray(data, np.float32)
            if data.ndim != 4:
                raise ValueError(f"data must be a batch of images [N, H, W, C], got shape {data.shape}")
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self.units, self.steps, self.size, self.param = units, int(steps), size, param
        self.data, self.value_range, self.transparency = data, value_range, bool(transparency)
        self.diversity, self.diversity_units = int(diversity), int(diversity_units)
        self.layer_paths = None
        self._renderers = {}

    def _units_of(self, path, layer):
        if isinstance(self.units, dict):
            return self.units.get(path, self.units.get(layer if isinstance(layer, str) else path))
        return self.units

    def setup(self):
        self.layer_paths = [taps_lib.resolve(self.model, [layer])[0] for layer in self.layers]
        self._build({path: self._units_of(path, layer) for path, layer in zip(self.layer_paths, self.layers)})
        keep = self._units_within_budget() if self.max_bytes_per_step is not None else None
        if keep is not None:
            self._build({path: self._renderers[path].units[:keep] for path in self.layer_paths
                         if len(self._renderers[path].units) > keep})

    def _build(self, chosen):
        """A renderer per layer for the ``chosen`` units (None: all), and one for its diversity images."""
        for path, units in chosen.items():
            self._renderers[path] = render_lib.Renderer(
                self.model, path, units=units, size=self.size, param=self.param,
                value_range=self.value_range, data=self.data)
            if self.diversity:
                units = self._renderers[path].units[:self.diversity_units]
                self._renderers[path + "#diversity"] = _diversity_renderer(
                    self.model, path, units, self.diversity, self.size, self.param, self.value_range, self.data)

    def _units_within_budget(self):
        """None, or the most units per layer (the first ones) that keep a step within ``max_bytes_per_step``,
        with a warning."""
        layers = {path: len(self._renderers[path].units) for path in self.layer_paths}
        size, limit = self._renderers[self.layer_paths[0]].size, self.max_bytes_per_step
        extra = dict(diversity=self.diversity, diversity_units=self.diversity_units)
        keep = budget.units_within(layers, size, self.transparency, limit, **extra)
        if keep is not None:
            warn_over("the chosen layers", self.model.name, budget.step_bytes(layers, size, self.transparency, **extra),
                      limit, f"{sum(layers.values())} units of {len(layers)} layer{'s' if len(layers) > 1 else ''} at "
                      f"{size[0]}x{size[1]}",
                      f"rendering the first {keep} units of {names(p for p, n in layers.items() if n > keep)}",
                      budget.step_bytes(layers, size, self.transparency, units=keep, **extra),
                      "pass fewer units (units=[...]), a smaller size=..., transparency=False")
        return keep

    def write(self, step, epoch_end):
        if step in self.written_steps:
            return
        for path in self.layer_paths:
            result = self.guard(path, lambda p=path: self._renderers[p].run(self.steps, seed=0, verbose=0))
            if result is not None:
                self._submit(path, result, step, diversity=False)
            if self.diversity:
                key = path + "#diversity"
                result = self.guard(key, lambda k=key: self._renderers[k].run(self.steps, seed=0, verbose=0))
                if result is not None:
                    result.units = result.origin = np.repeat(self._renderers[key].diversity_units, self.diversity)
                    self._submit(path, result, step, diversity=True)

    def _submit(self, path, result, step, diversity):
        if not self.transparency:
            result.transparency = None
        self.submit(path + (" diversity" if diversity else ""),
                    lambda: summary.result_pb(path, result, diversity=diversity), step=step)


def _diversity_renderer(model, path, units, per_unit, size, param, value_range, data):
    """A renderer of ``per_unit`` images per unit, each unit's images pushed apart by lucid's diversity."""
    from tb_nnvis.core.featvis import objectives

    units = np.asarray(units)
    repeated = np.repeat(units, per_unit)
    objective = objectives.channel(path, repeated)
    objective = objective + 0.5 * objectives.diversity(path, group=per_unit)
    renderer = render_lib.Renderer(model, None, size=size, param=param, objective=objective,
                                   value_range=value_range, data=data)
    renderer.diversity_units = units
    return renderer

"""``ActivationsCallback``: a thin adapter from Keras training events to the activation summaries."""
import numpy as np

from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core import topk
from tb_nnvis.plugins import _budget as budget_lib
from tb_nnvis.plugins._callback import SummaryCallback, batch_inputs, check_count, first_input, slice_inputs
from tb_nnvis.plugins.activations import budget, summary
from tb_nnvis.plugins.activations.parameters import ParameterWriter


class ActivationsCallback(SummaryCallback):
    """Write the feature maps of chosen layers for fixed probe inputs while a model trains.

    Every written step holds, for each layer, the maps of every unit for every probe (an 8-bit atlas
    with per-unit ranges) and per-unit statistics. The probe inputs themselves are written once.
    Steps are the optimizer's iteration count, so the maps line up with the loss curves; the
    state before training is written as well (step 0 for a fresh model).

    Args:
      log_dir: where to write; a directory TensorBoard's ``--logdir`` covers (any ``tf.io.gfile`` path).
      probes: a few fixed inputs (numpy array, or a list of arrays for multi-input models), e.g.
        ``x_val[:8]``. Keep it small: the cost is one forward pass of this batch per written step.
      layers: None for what is worth showing: every layer with a spatial or unit axis of a small model,
        the block outputs of a bigger one (residual ``Add``s, the last layer of each block; nested models
        expanded; see :func:`tb_nnvis.core.taps.default_taps`). ``"all"`` for every such layer, or names,
        paths (``"mobilenetv2_1.00_224/block_1_expand"``) or layer objects.
      every_n_epochs: write at the end of every n-th epoch (0 or None: never at epoch ends).
      every_n_batches: also write every n-th training batch (None: off).
      max_units: write at most this many units per layer (the first ones); None for all.
      max_bytes_per_step: the budget of one written step (default 5 MB, estimated from the layers' shapes
        at the start of training). Layers that would write more are cut to their first units, with a
        warning that says how to change it; None writes everything.
      examples: optional dataset inputs (e.g. ``x_val[:1000]``) to find, for every unit, the ``top_k``
        examples that excite it most, as in the Deep Visualization Toolbox. Costs one forward pass
        over them at the start and at each epoch write (not at batch writes); image inputs are also
        written once so the dashboard can show them.
      top_k: how many top examples to keep per unit.
      weights: also write each layer's per-unit incoming weights (the filter beside each map), their
        norms, and the layer's update-to-weight ratio at every written step (Dense and convolutions).
      graph: also write the model's graph for TensorBoard's Graphs tab.
      projector: ``{"inputs": x, "labels": y}`` (optional keys ``images``, ``layers``, ``max_points``,
        ``spatial``) to write layer activations for TensorBoard's Projector before and after training;
        by default the tapped layers with a flat output. See :func:`tb_nnvis.projector.log_activations`.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> cb = ActivationsCallback(tempfile.mkdtemp(), probes=np.ones((2, 4)), layers=["hidden"])
    >>> _ = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0, callbacks=[cb])
    >>> cb.layer_paths
    ['hidden']
    """

    name = "activations"

    def __init__(self, log_dir, probes, layers=None, every_n_epochs=1, every_n_batches=None, max_units=None,
                 examples=None, top_k=9, max_bytes_per_step=5_000_000, weights=False, graph=False, projector=None):
        super().__init__(log_dir, every_n_epochs=every_n_epochs, every_n_batches=every_n_batches)
        if probes is None:
            raise ValueError("probes must be a few fixed inputs, e.g. probes=x_val[:8]")
        self.probes = batch_inputs(probes)
        first = first_input(self.probes)
        if first.ndim < 1 or len(first) == 0:
            raise ValueError(f"probes must be a batch of at least one input, got shape {first.shape}")
        if len(first) > 64:
            raise ValueError(f"{len(first)} probes is too many to draw; pass a few (e.g. probes=x_val[:8])")
        self.examples = None
        if examples is not None:
            self.examples = batch_inputs(examples)
            if len(first_input(self.examples)) == 0:
                raise ValueError("examples must hold at least one input, e.g. examples=x_val[:1000]")
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        check_count("max_units", max_units)
        check_count("max_bytes_per_step", max_bytes_per_step)
        self.max_bytes_per_step = max_bytes_per_step
        self.top_k = int(top_k)
        self.layers = layers
        self.max_units = max_units
        self.units = max_units  # what is written: max_units, lowered to fit max_bytes_per_step
        self.layer_paths = None
        self._taps = None
        self._top_steps = []
        self.parameters = ParameterWriter(weights=weights, graph=graph, projector=projector)

    def setup(self):
        self.layer_paths = taps_lib.resolve(self.model, "default" if self.layers is None else self.layers)
        self._taps = taps_lib.TapModel(self.model, self.layer_paths)
        self.units = self._units_within_budget()
        step = self.step()
        probes = first_input(self.probes)
        self.submit("probe inputs", lambda: summary.probe_inputs_pb(probes), step=step)
        if self.examples is not None:
            examples = first_input(self.examples)
            self.submit("dataset examples", lambda: summary.dataset_examples_pb(examples), step=step)
        self.guard("weights, graph and receptive fields", lambda: self.parameters.setup(self))
        self.parameters.write_projector(self, step)

    def on_epoch_begin(self, epoch, logs=None):
        self.parameters.on_epoch_begin(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self._worker is not None:
            self.guard("a copy of the weights", lambda: self.parameters.on_train_batch_begin(self, batch))

    def on_epoch_end(self, epoch, logs=None):
        self.parameters.on_epoch_end()
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self._worker is not None:
            self.parameters.write_projector(self, self.step())
        super().on_train_end(logs)

    def write(self, step, epoch_end):
        """Tap the probes on the training thread (the weights of this step); encode and write on the
        worker thread, so that training does not wait for PNG compression or the disk."""
        if epoch_end and self.examples is not None and step not in self._top_steps:
            self._top_steps.append(step)
            self.guard("top examples", lambda: self._write_top_examples(step))
        if step in self.written_steps:
            return
        outputs = self.guard("forward pass of the probes", lambda: self._taps(self.probes))
        for path, value in (outputs or {}).items():
            value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            if self.units is not None:
                value = value[..., : self.units]
            self.submit(path, lambda p=path, v=value: summary.activations_pb(p, v), step=step)
        self.parameters.write(self, step, self.units)

    def _units_within_budget(self):
        """``max_units``, lowered so that a written step fits ``max_bytes_per_step`` (with a warning)."""
        count = len(first_input(self.probes))
        shapes = {p: (count, *[1 if s is None else int(s) for s in t.shape[1:]])
                  for p, t in zip(self.layer_paths, self._taps.model.outputs)}
        chosen = budget.step_bytes(shapes, self.max_units)
        if self.max_bytes_per_step is None or chosen <= self.max_bytes_per_step:
            return self.max_units
        units = budget.units_within(shapes, self.max_bytes_per_step)
        cut = [p for p, s in shapes.items() if s[-1] > units]
        what = "the default layers" if self.layers is None else "the chosen layers"
        budget_lib.warn_over(what, self.model.name, chosen, self.max_bytes_per_step,
                             f"{len(shapes)} layers, {count} probes",
                             f"writing the first {units} units of {budget_lib.names(cut)}",
                             budget.step_bytes(shapes, units), "pass fewer probes, fewer layers (layers=[...])")
        return units

    def _write_top_examples(self, step, batch_size=64):
        """One pass over the examples, keeping each unit's top-k (the same weights as this step's maps)."""
        n = len(first_input(self.examples))
        tops, shapes = {}, {}
        for start in range(0, n, batch_size):
            for path, value in self._taps(slice_inputs(self.examples, start, start + batch_size)).items():
                value = np.asarray(value)
                if self.units is not None:
                    value = value[..., : self.units]
                if path not in tops:
                    tops[path], shapes[path] = topk.TopK(self.top_k, value.shape[-1]), value.shape[1:-1]
                tops[path].update(value, start)
        for path, top in tops.items():
            self.submit(path + " top examples", lambda p=path, t=top, s=shapes[path]:
                        summary.top_examples_pb(p, t, map_shape=s), step=step)

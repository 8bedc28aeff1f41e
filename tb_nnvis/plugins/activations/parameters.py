"""What :class:`~tb_nnvis.plugins.activations.callback.ActivationsCallback` logs beside the maps, as options.

- ``weights=True``: each tapped layer's per-unit incoming weights and their norms at every written step,
  and the layer's update-to-weight ratio across the optimizer step that led to it (the weights are
  copied just before that step, on the batches that end in a written step only);
- ``graph=True``: the model's graph for TensorBoard's Graphs tab (Keras 3's own callback writes none);
- ``projector={"inputs": x, "labels": y, ...}``: layer activations for TensorBoard's Projector, before
  and after training (see :func:`tb_nnvis.projector.log_activations`);
- receptive fields of the tapped layers when there are top examples, so the dashboard shows crops.

Whatever cannot be logged for a model (a layer without weights, a subclassed model without a graph, a
layer whose receptive field is unknown) is a warning that names it; training goes on.
"""
from tb_nnvis.core import receptive_field as fields_lib
from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core import weights as weights_lib
from tb_nnvis.plugins._callback import batch_inputs, logger
from tb_nnvis.plugins.activations import weights as summaries

_PROJECTOR_KEYS = {"inputs", "labels", "images", "layers", "max_points", "spatial"}


class ParameterWriter:
    """The optional parameter summaries of one :class:`ActivationsCallback` (see the module docstring)."""

    def __init__(self, weights=False, graph=False, projector=None):
        for name, value in (("weights", weights), ("graph", graph)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        if projector is not None:
            if not isinstance(projector, dict) or "inputs" not in projector:
                raise ValueError('projector must be a dict with at least "inputs", e.g. '
                                 'projector={"inputs": x_val[:2000], "labels": y_val[:2000]}')
            unknown = set(projector) - _PROJECTOR_KEYS
            if unknown:
                raise ValueError(f"unknown projector keys {sorted(unknown)}; use {sorted(_PROJECTOR_KEYS)}")
            projector = dict(projector, inputs=batch_inputs(projector["inputs"]))
        self.weights, self.graph, self.projector = weights, graph, projector
        self.weight_layers = {}   # path -> layer, one path per layer object
        self._snapshot = None     # (step, {path: [arrays]}): weights just before the step that makes `step`
        self._epoch, self._steps_per_epoch, self._batches = 0, None, 0

    # ---- at the start of training --------------------------------------------------------------------

    def setup(self, cb):
        step = cb.step()
        if self.graph:
            from tb_nnvis.core.graph_def import graph_pb

            graph = cb.guard("the model graph", lambda: graph_pb(cb.model))
            if graph is not None:
                cb.submit("the model graph", lambda: graph, step=step)
        if self.weights:
            self.weight_layers = self._layers_with_kernels(cb)
        if cb.examples is not None:
            self._write_receptive_fields(cb, step)
        self._steps_per_epoch = (cb.params or {}).get("steps")

    def _layers_with_kernels(self, cb):
        by_path = {t.path: t.layer for t in taps_lib.list_taps(cb.model, include_all=True)}
        chosen, seen, skipped = {}, set(), []
        for path in cb.layer_paths:
            layer = by_path.get(path)
            if layer is None or id(layer) in seen:
                continue
            if weights_lib.has_unit_kernels(layer):
                chosen[path] = layer
                seen.add(id(layer))
            else:
                skipped.append(path)
        if not chosen:
            logger.warning("tb_nnvis: weights=True, but none of the tapped layers (%s) has per-unit weights "
                           "(Dense, Conv1D/2D/3D, DepthwiseConv2D); pass layers=[...] that do",
                           ", ".join(cb.layer_paths[:8]))
        return chosen

    def _write_receptive_fields(self, cb, step):
        failed = {}
        for path in cb.layer_paths:
            try:
                field = fields_lib.receptive_field(cb.model, path)
            except (fields_lib.ReceptiveFieldError, ValueError) as e:
                failed[path] = str(e)
                continue
            cb.submit(f"receptive field of {path}", lambda p=path, f=field: summaries.receptive_field_pb(p, f),
                      step=step)
        if failed:
            first = next(iter(failed.values()))
            logger.warning("tb_nnvis: top examples of %s are shown without receptive-field crops: %s",
                           ", ".join(list(failed)[:5]) + (" ..." if len(failed) > 5 else ""), first)

    # ---- during training ---------------------------------------------------------------------------

    def on_epoch_begin(self, epoch):
        self._epoch, self._batches = epoch, 0

    def on_train_batch_begin(self, cb, batch):
        """Copy the weights when the optimizer step about to run ends in a written step."""
        self._batches = batch + 1
        if not self.weight_layers:
            return
        upcoming = cb.step() + 1
        by_batch = cb.every_n_batches and upcoming % cb.every_n_batches == 0
        last = self._steps_per_epoch is not None and batch == self._steps_per_epoch - 1
        by_epoch = cb.every_n_epochs and last and (self._epoch + 1) % cb.every_n_epochs == 0
        if by_batch or by_epoch:
            self._snapshot = (upcoming, {p: [w.numpy() for w in layer.trainable_weights]
                                         for p, layer in self.weight_layers.items()})

    def on_epoch_end(self):
        if self._steps_per_epoch is None and self._batches:
            self._steps_per_epoch = self._batches  # datasets of unknown length: learnt from the first epoch

    def write(self, cb, step, units):
        """Kernels, norms and (where a copy from just before this step exists) update ratios."""
        before = self._snapshot[1] if self._snapshot is not None and self._snapshot[0] == step else None
        for path, layer in self.weight_layers.items():
            kernels = cb.guard(f"weights of {path}", lambda l=layer: weights_lib.unit_kernels(l))
            if kernels is None:
                continue
            kernels = kernels[:units] if units is not None else kernels
            cls = type(layer).__name__
            cb.submit(f"weights of {path}", lambda p=path, k=kernels: summaries.weights_pb(p, k, cls), step=step)
            if before is not None and path in before:
                after = [w.numpy() for w in layer.trainable_weights]
                ratio = cb.guard(f"update ratio of {path}", lambda b=before[path], a=after:
                                 weights_lib.update_ratio(b, a))
                if ratio is not None:
                    cb.submit(f"update ratio of {path}", lambda p=path, r=ratio: summaries.update_ratio_pb(p, r),
                              step=step)
        if before is not None:
            self._snapshot = None

    def write_projector(self, cb, step):
        """The projector's embeddings of this step (run at the start and at the end of training)."""
        if self.projector is None:
            return
        from tb_nnvis.projector import log_activations

        spec = self.projector
        layers = spec.get("layers") or [p for p, t in zip(cb.layer_paths, cb._taps.model.outputs)
                                        if len(t.shape) == 2] or cb.layer_paths[-1:]
        for layer in layers:
            cb.guard(f"projector embedding of {layer}", lambda l=layer: log_activations(
                cb.log_dir, cb.model, l, spec["inputs"], labels=spec.get("labels"), images=spec.get("images"),
                max_points=spec.get("max_points", 10000), step=step, spatial=spec.get("spatial", "mean"),
                event_file=False))


"""The ``spray=`` option of :class:`tb_nnvis.keras.RelevanceCallback`: SpRAy of chosen classes, repeated as the
model trains.

On the training thread (with the weights of that step) it computes only the pooled relevance maps of each
class's examples, in batches; the analysis (k-NN graph, eigendecomposition, k-means, layout) and the encoding
run on the callback's writer thread, so training waits for LRP alone.
"""
import logging

import numpy as np

from tb_nnvis.core.lrp.spray import analyze, pooled_relevance
from tb_nnvis.plugins._callback import batch_inputs, check_count, first_input, slice_inputs
from tb_nnvis.plugins.relevance import spray_summary

logger = logging.getLogger("tb_nnvis")
KEYS = {"examples", "labels", "classes", "every_n_epochs", "composite", "size", "n_clusters", "name", "batch_size"}


class SprayOption:
    """A validated ``spray={...}`` option.

    Keys: ``examples`` (required: inputs, e.g. ``x_val[:2000]``), ``classes`` (required: class indices),
    ``labels`` (their true classes; without them each class's examples are those the model predicts as it, at
    that step), ``every_n_epochs`` (default 5; the state before training is analysed too), ``composite``
    (default: the callback's first), ``size`` (pooled map size, default ``(32, 32)``), ``n_clusters`` (default
    None: the eigengap), ``name`` (default ``"spray"``), ``batch_size`` (default 64).

    >>> opt = SprayOption({"examples": np.zeros((10, 4, 4, 1)), "classes": [1]}, "epsilon")
    >>> opt.every_n_epochs, opt.classes, opt.composite
    (5, [1], 'epsilon')
    """

    def __init__(self, spec, default_composite):
        if not isinstance(spec, dict):
            raise ValueError('spray must be a dict, e.g. spray={"examples": x_val[:2000], "classes": [0, 3]}')
        unknown = set(spec) - KEYS
        if unknown:
            raise ValueError(f"unknown spray option(s) {sorted(unknown)}; the options are {sorted(KEYS)}")
        if spec.get("examples") is None or spec.get("classes") is None:
            raise ValueError('spray needs "examples" (e.g. x_val[:2000]) and "classes" (e.g. [0, 3])')
        self.examples = batch_inputs(spec["examples"])
        count = len(first_input(self.examples))
        self.labels = None if spec.get("labels") is None else np.asarray(spec["labels"]).reshape(-1)
        if self.labels is not None and (len(self.labels) != count or not np.issubdtype(self.labels.dtype, np.integer)):
            raise ValueError(f"spray labels must be {count} class indices, one per example")
        classes = np.asarray(spec["classes"]).reshape(-1)
        if not len(classes) or not np.issubdtype(classes.dtype, np.integer) or (classes < 0).any():
            raise ValueError(f"spray classes must be class indices, e.g. [0, 3], got {spec['classes']!r}")
        self.classes = [int(c) for c in classes]
        self.every_n_epochs = spec.get("every_n_epochs", 5)
        check_count("spray every_n_epochs", self.every_n_epochs)
        self.composite = spec.get("composite") or default_composite
        self.size = tuple(spec.get("size", (32, 32)))
        self.n_clusters = spec.get("n_clusters")
        self.name = str(spec.get("name", "spray"))
        self.batch_size = int(spec.get("batch_size", 64))
        self._epoch_ends = 0

    def check(self, classes):
        """At the start of training, against the model's number of classes."""
        bad = [c for c in self.classes if c >= classes]
        if bad:
            raise ValueError(f"spray classes {bad} out of range: the model has {classes} classes")

    def due(self, step, epoch_end, steps_per_epoch):
        """Whether to analyse at this write: before training, and at every ``every_n_epochs``-th epoch end."""
        if not epoch_end or not self.every_n_epochs:
            return step == 0 and epoch_end
        if steps_per_epoch:
            epochs = step // steps_per_epoch
        else:  # unknown epoch length: count the epoch ends we are called at
            epochs, self._epoch_ends = self._epoch_ends, self._epoch_ends + 1
        return epochs % self.every_n_epochs == 0

    def write(self, callback, step):
        """Compute each class's maps now and queue its analysis and writing on ``callback``'s writer thread."""
        chosen = self.labels if self.labels is not None else self._predicted(callback.model)
        names = callback.class_names
        for cls in self.classes:
            what = f"SpRAy of class {cls}"
            members = np.flatnonzero(chosen == cls)
            if len(members) < 3:
                logger.warning("tb_nnvis: %s skipped at step %d: %d examples (SpRAy needs at least 3)", what, step,
                               len(members))
                continue
            x = [v[members] for v in self.examples] if isinstance(self.examples, list) else self.examples[members]
            computed = callback.guard(what, lambda x=x, c=cls: pooled_relevance(
                callback.model, x, c, self.composite, self.size, self.batch_size))
            if computed is None:
                continue
            maps = computed[0]
            name = None if names is None else names[cls]
            shown = first_input(x)
            callback.submit(what, lambda m=maps, c=cls, s=shown, i=members, n=name: self._summary(m, c, s, i, n),
                            step=step)

    def _predicted(self, model):
        """Each example's predicted class, in batches of 256."""
        out = []
        for start in range(0, len(first_input(self.examples)), 256):
            logits = np.asarray(model(slice_inputs(self.examples, start, start + 256), training=False))
            out.append(logits.reshape(len(logits), -1).argmax(axis=1))
        return np.concatenate(out)

    def _summary(self, maps, cls, inputs, indices, class_name):
        k = self.n_clusters if self.n_clusters and self.n_clusters <= len(maps) else None
        result = analyze(maps, n_clusters=k)
        result.target = np.full(len(maps), cls, np.int32)
        result.composite = self.composite
        images = inputs if np.issubdtype(inputs.dtype, np.floating) and inputs.ndim in (3, 4) else None
        return spray_summary.spray_pb(self.name, result, images, target=cls, class_name=class_name, indices=indices)

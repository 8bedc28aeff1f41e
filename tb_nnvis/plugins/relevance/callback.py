"""``RelevanceCallback``: LRP heatmaps of fixed probes while a model trains, for the Relevance dashboard."""
import itertools
import logging
import threading

import keras
import numpy as np

from tb_nnvis.core.compiled import TracedLater
from tb_nnvis.core.lrp import explainer
from tb_nnvis.core.lrp.intermediate import attribute_layers, layer_key, layer_units, unit_gradients, unit_heatmaps
from tb_nnvis.plugins._budget import largest_within, names, warn_over
from tb_nnvis.plugins._callback import SummaryCallback, batch_inputs, check_count, first_input
from tb_nnvis.plugins.relevance import budget, summary
from tb_nnvis.plugins.relevance.spray_callback import SprayOption

logger = logging.getLogger("tb_nnvis")

TARGET_MODES = ("predicted", "true")
HEATMAP_METHODS = ("lrp", "gradient_x_input")


class RelevanceCallback(SummaryCallback):
    """Write LRP relevance of fixed probe inputs (images or token ids) at chosen steps of ``fit``.

    For every probe it logs relevance for several classes at once (the predicted one, the true one when
    ``labels`` are given, and the ``top_classes`` highest-scoring ones), so the dashboard switches target
    without recomputing; each composite in ``composites`` is logged side by side. LRP runs on the training
    thread in one compiled call per composite (probes × targets as one batch, the weights of that step);
    encoding and writing happen on a worker thread. A failure is a warning, never the end of training.

    Args:
      log_dir: where to write (a directory that TensorBoard's ``--logdir`` covers).
      probes: a few fixed inputs (``x_val[:8]``): images ``[P, H, W, C]``, token ids ``[P, L]`` for a model
        that starts with an ``Embedding``, or strings for one that starts with a ``TextVectorization`` (LRP then
        starts after it, at its token ids); a list of arrays for a multi-input model (the first is shown).
      labels: optional true class of each probe.
      composites: an LRP composite name (``"epsilon_plus"``) or a list of them; see :mod:`tb_nnvis.lrp`.
      targets: which class the dashboard shows first: ``"predicted"`` or ``"true"`` (needs ``labels``);
        or class indices (an int or a list) that are always logged besides the predicted one.
      top_classes: how many of the highest-scoring classes to log.
      class_names: optional names of the classes.
      vocabulary: for text models: the tokens in index order, or a ``TextVectorization`` layer (its own
        vocabulary). Index 0 as ``""`` (padding) is cut from the end of each document.
      unit_layers: layer names whose units' relevance (summed over positions) is logged too, from the same pass:
        which units carry the decision.
      unit_heatmaps: ``{layer: "all" or [units]}``: for each probe, the input heatmap of each named unit (LRP
        started at the unit's activation), with the first composite; one pass per unit, batched over probes.
      unit_heatmap_methods: ``"lrp"``, ``"gradient_x_input"`` (float inputs only) or both in a list: the
        Activations tab switches between them.
      every_n_epochs, every_n_batches: when to write (see :class:`tb_nnvis.plugins._callback.SummaryCallback`).
      name: the probe set's name on the dashboard.
      spray: SpRAy of whole classes, repeated as the model trains, e.g. ``{"examples": x_val[:2000],
        "classes": [0, 3], "every_n_epochs": 5}``; see :class:`tb_nnvis.plugins.relevance.spray_callback.SprayOption`.
      max_bytes_per_step: the budget of one written step (default 5 MB, estimated from the shapes at the start
        of training, see :mod:`tb_nnvis.plugins.relevance.budget`). Over it, the unit heatmaps are cut to their
        first units, then the targets per probe to the first ones, with a warning that says how to change it;
        None writes everything.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> x, y = np.random.rand(16, 8, 8, 1).astype("float32"), np.random.randint(0, 3, 16)
    >>> cb = RelevanceCallback(tempfile.mkdtemp(), probes=x[:2], labels=y[:2], unit_layers=["conv"])
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    >>> cb.written_steps, cb.num_targets
    ([0, 1], 3)
    """

    name = "relevance"
    # The first writes run the LRP passes eagerly while a background thread traces the compiled ones:
    # tracing costs as much as several eager passes, and the training thread should not wait for it.

    def __init__(self, log_dir, probes, labels=None, composites="epsilon_plus", targets="predicted", top_classes=3,
                 class_names=None, vocabulary=None, unit_layers=None, unit_heatmaps=None, every_n_epochs=1,
                 every_n_batches=None, name="probes", spray=None, unit_heatmap_methods="lrp",
                 max_bytes_per_step=5_000_000):
        super().__init__(log_dir, every_n_epochs=every_n_epochs, every_n_batches=every_n_batches)
        check_count("max_bytes_per_step", max_bytes_per_step)
        self.max_bytes_per_step = max_bytes_per_step
        if probes is None:
            raise ValueError("probes must be a few fixed inputs, e.g. probes=x_val[:8]")
        self.probes = batch_inputs(probes)
        count = len(first_input(self.probes))
        if count == 0 or count > 64:
            raise ValueError(f"pass between 1 and 64 probes (e.g. probes=x_val[:8]), got {count}")
        self.labels = None if labels is None else np.asarray(labels).reshape(-1).astype(np.int64)
        if self.labels is not None and len(self.labels) != count:
            raise ValueError(f"labels must have one class per probe ({count}), got {len(self.labels)}")
        self.composites = [composites] if isinstance(composites, str) else list(composites)
        if not self.composites:
            raise ValueError("composites must name at least one LRP composite, e.g. 'epsilon_plus'")
        self.mode, self.explicit = _target_spec(targets, self.labels)
        if isinstance(top_classes, bool) or not isinstance(top_classes, (int, np.integer)) or top_classes < 1:
            raise ValueError(f"top_classes must be a positive integer, got {top_classes!r}")
        self.top_classes = int(top_classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.vocabulary = vocabulary
        self.unit_layers = [unit_layers] if isinstance(unit_layers, str) else list(unit_layers or [])
        if unit_heatmaps is not None and not isinstance(unit_heatmaps, dict):
            raise ValueError('unit_heatmaps must be a dict {layer: "all" or [units]}, e.g. {"conv3": "all"}')
        self.unit_heatmaps = dict(unit_heatmaps or {})
        methods = [unit_heatmap_methods] if isinstance(unit_heatmap_methods, str) else list(unit_heatmap_methods)
        if not methods or any(m not in HEATMAP_METHODS for m in methods):
            raise ValueError(f"unit_heatmap_methods must be among {HEATMAP_METHODS}, got {unit_heatmap_methods!r}")
        self.heatmap_methods = methods
        self.set_name = str(name)
        self.num_targets = None
        self._traced = None  # a threading.Event once tracing started; set when the compiled passes are ready
        self._tokens = None
        self._spray = None if spray is None else SprayOption(spray, self.composites[0])

    # ---- SummaryCallback ----------------------------------------------------------------------------

    def setup(self):
        model = self.model
        full = self.model  # scores of the whole model (below, model may become the part after a vectorizer)
        self._forward = TracedLater(lambda x: full(x, training=False))
        self._explained, self._lrp_inputs = model, self.probes
        vectorizer = _vectorizer(model)
        if vectorizer is not None:  # LRP starts after it, at the token ids it makes of the probe strings
            if vectorizer.output.shape[-1] is None:
                raise ValueError(f"TextVectorization {vectorizer.name!r} needs output_sequence_length=... so that "
                                 f"relevance has one value per token position")
            model = self._explained = keras.Model(vectorizer.output, self.model.outputs[0])
            self._lrp_inputs = np.asarray(vectorizer(_tensor(first_input(self.probes))))
            if self.vocabulary is None:
                self.vocabulary = vectorizer
        for comp in self.composites:  # builds each explainer now: a layer without a rule fails here, clearly
            exp = explainer(model, comp)
        for layer in self.unit_layers + list(self.unit_heatmaps):
            layer_key(exp, layer)
        self._heatmap_units = {layer: _units(layer, spec, layer_units(exp, layer))
                               for layer, spec in self.unit_heatmaps.items()}
        classes = int(np.prod(model.outputs[0].shape[1:]))
        if self.class_names is not None and len(self.class_names) != classes:
            raise ValueError(f"class_names has {len(self.class_names)} names for {classes} classes")
        if self.labels is not None and (self.labels.min() < 0 or self.labels.max() >= classes):
            raise ValueError(f"labels must be class indices in 0..{classes - 1}")
        if any(t >= classes for t in self.explicit):
            raise ValueError(f"targets {self.explicit} out of range: the model has {classes} classes")
        if self._spray is not None:
            self._spray.check(classes)
        extra = len(self.explicit) + (self.labels is not None)
        self.num_targets = min(classes, self.top_classes + extra)
        first = first_input(self._lrp_inputs)
        if np.issubdtype(first.dtype, np.integer):
            self._tokens = _documents(first, _vocabulary(self.vocabulary))
        elif first.ndim not in (3, 4):
            raise ValueError(f"probes of shape {first.shape} are neither images [P, H, W, C] nor token ids [P, L]")
        if self.max_bytes_per_step is not None:
            self._fit_budget(classes, exp)

    def write(self, step, epoch_end):
        if self._spray is not None and self._spray.due(step, epoch_end, (self.params or {}).get("steps")):
            self._spray.write(self, step)
        if step in self.written_steps:
            return
        targets = self._targets()
        p, t = targets.shape
        tiled = _repeat(self._lrp_inputs, t)
        for comp in self.composites:
            rel, at_layers, used, logits = attribute_layers(
                self._explained, tiled, self.unit_layers, target=targets.reshape(-1), composite=comp,
                compiled=self._compiled())
            rel = first_input(rel) if isinstance(rel, list) else rel
            rel = rel.reshape((p, t) + rel.shape[1:])
            scores = logits.reshape(p, t, -1)[:, 0]
            self._submit_main(comp, rel, scores, targets, step)
            for layer, value in at_layers.items():
                value = value.reshape((p, t) + value.shape[1:])
                self.submit(f"unit relevance of {layer}", lambda l=layer, v=value, c=comp: summary.relevance_units_pb(
                    self.set_name, l, v, targets, composite=c), step=step)
        for (layer, units), method in itertools.product(self._heatmap_units.items(), self.heatmap_methods):
            what = f"unit heatmaps ({method}) of {layer}"
            if method == "lrp":
                label = self.composites[0]
                heat = self.guard(what, lambda l=layer, u=units: unit_heatmaps(
                    self._explained, self._lrp_inputs, l, u, composite=label, compiled=self._compiled()))
            else:
                label = method
                heat = self.guard(what, lambda l=layer, u=units: unit_gradients(self._explained, self._lrp_inputs, l, u))
            if heat is not None:
                self.submit(what, lambda l=layer, u=units, h=heat, c=label: summary.relevance_unit_heatmaps_pb(
                    self.set_name, l, u, h, composite=c), step=step)
        if self._traced is None:
            self._start_tracing(tiled, targets.reshape(-1))

    # ---- internals ----------------------------------------------------------------------------------

    def _fit_budget(self, classes, exp):
        """Cut the unit heatmaps to their first units, then the targets per probe, until a written step fits
        ``max_bytes_per_step``; one warning says what was cut (SpRAy writes on its own schedule, not counted)."""
        first = first_input(self._lrp_inputs)
        image = self._tokens is None
        step = budget.Step(
            len(first), self.num_targets, tuple(int(s) for s in first.shape[1:3 if image else 2]), classes,
            image_channels=(first.shape[3] if first.ndim == 4 else 1) if image else 0,
            composites=len(self.composites), names=budget.names_bytes(self.class_names, self._tokens),
            unit_layers=tuple(layer_units(exp, layer) or 0 for layer in self.unit_layers))
        limit, methods = self.max_bytes_per_step, len(self.heatmap_methods)
        counts = {layer: len(units) for layer, units in self._heatmap_units.items()}
        estimated = step.bytes(heatmaps=counts, methods=methods)
        if estimated <= limit:
            return
        did, units = [], sum(counts.values())
        if counts:
            keep = largest_within(lambda n: step.bytes(heatmaps={k: min(c, n) for k, c in counts.items()},
                                                       methods=methods), max(counts.values()), limit) or 1
            counts = {k: min(c, keep) for k, c in counts.items()}
            self._heatmap_units = {k: u[:keep] for k, u in self._heatmap_units.items()}
            did.append(f"writing the unit heatmaps of the first {keep} units of "
                       f"{names(k for k, u in self._heatmap_units.items() if len(u) == keep)}")
        targets = largest_within(lambda t: step.bytes(t, counts, methods), self.num_targets, limit)
        if targets is not None:
            self.num_targets = targets
            did.append(f"logging the first {targets} of the {step.targets} target classes per probe (the shown "
                       f"one first)")
        detail = (f"{step.probes} probes, {step.targets} targets, {step.composites} composite"
                  f"{'s' if step.composites > 1 else ''}" + (f", unit heatmaps of {units} units" if units else ""))
        warn_over("relevance", self.model.name, estimated, limit, detail, " and ".join(did),
                  step.bytes(self.num_targets, counts, methods),
                  "pass fewer probes, fewer unit_heatmaps units, a smaller top_classes")

    def _compiled(self):
        """Whether the compiled passes are traced (until then the passes run eagerly)."""
        return self._traced is not None and self._traced.is_set()

    def _start_tracing(self, tiled, targets):
        """Trace and run the compiled passes once on a background thread (the first call of a traced function
        also pays for graph optimisation); if that fails, the passes stay eager."""
        self._traced = threading.Event()
        heat = list(self._heatmap_units.items()) if "lrp" in self.heatmap_methods else []

        def run():
            try:
                for comp in self.composites:
                    attribute_layers(self._explained, tiled, self.unit_layers, target=targets, composite=comp)
                for layer, units in heat:
                    unit_heatmaps(self._explained, self._lrp_inputs, layer, units, composite=self.composites[0])
            except Exception as e:  # noqa: BLE001 - eager passes give the same numbers, only slower
                logger.info("tb_nnvis: relevance passes stay eager (tracing failed: %s: %s)", type(e).__name__, e)
                return
            self._traced.set()

        threading.Thread(target=run, name="tb_nnvis-relevance-trace", daemon=True).start()

    def _targets(self):
        """``[P, T]`` distinct classes per probe: the first shown (predicted or true), explicit ones, the true
        one, then the rest by score; T is fixed so that every step has the same shape."""
        probes = [_tensor(p) for p in self.probes] if isinstance(self.probes, list) else _tensor(self.probes)
        out = np.asarray(self._forward(probes))
        ranked = np.argsort(-out.reshape(len(out), -1), axis=1, kind="stable")
        rows = []
        for i, order in enumerate(ranked):
            label = [] if self.labels is None else [int(self.labels[i])]
            first = label if self.mode == "true" else [int(order[0])]
            seq = dict.fromkeys(first + self.explicit + label + [int(c) for c in order])
            rows.append(list(seq)[: self.num_targets])
        return np.asarray(rows, dtype=np.int32)

    def _submit_main(self, comp, rel, scores, targets, step):
        kw = dict(class_names=self.class_names, composite=comp, labels=self.labels)
        if self._tokens is not None:
            tokens = self._tokens
            self.submit(f"{comp} relevance", lambda: summary.relevance_text_pb(
                self.set_name, tokens, rel, scores, targets, **kw), step=step)
        else:
            images = first_input(self.probes)
            self.submit(f"{comp} relevance", lambda: summary.relevance_image_pb(
                self.set_name, images, rel, scores, targets, **kw), step=step)


def _target_spec(targets, labels):
    if isinstance(targets, str):
        if targets not in TARGET_MODES:
            raise ValueError(f"targets must be one of {TARGET_MODES} or class indices, got {targets!r}")
        if targets == "true" and labels is None:
            raise ValueError('targets="true" needs labels=..., the true class of each probe')
        return targets, []
    explicit = np.asarray(targets).reshape(-1)
    if not np.issubdtype(explicit.dtype, np.integer) or (explicit < 0).any():
        raise ValueError(f"targets must be 'predicted', 'true' or class indices, got {targets!r}")
    return "predicted", [int(c) for c in explicit]


def _units(layer, spec, count):
    if isinstance(spec, str):
        if spec != "all":
            raise ValueError(f'unit_heatmaps[{layer!r}] must be "all" or a list of units, got {spec!r}')
        if count is None:
            raise ValueError(f"cannot tell how many units layer {layer!r} has; list them")
        return list(range(count))
    units = [int(u) for u in np.asarray(spec).reshape(-1)]
    if count is not None and any(u < 0 or u >= count for u in units):
        raise ValueError(f"unit_heatmaps[{layer!r}]: units must be in 0..{count - 1}, got {units}")
    return units


def _tensor(x):
    """Strings as a tf.string tensor (Keras does not take numpy unicode arrays); the rest as it is."""
    if x.dtype.kind in "USO":
        import tensorflow as tf

        return tf.constant(x.astype(object) if x.dtype.kind == "U" else x, dtype=tf.string)
    return x


def _vectorizer(model):
    """The model's TextVectorization layer when it reads a model input (strings in, token ids out), else None."""
    inputs = {id(t) for t in model.inputs}
    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            try:
                return layer if id(layer.input) in inputs else None
            except (AttributeError, ValueError):
                return None
    return None


def _vocabulary(vocabulary):
    """The tokens in index order: given, from a TextVectorization layer, or None."""
    if vocabulary is None:
        return None
    if isinstance(vocabulary, keras.layers.Layer):
        if not hasattr(vocabulary, "get_vocabulary"):
            raise ValueError(f"vocabulary layer {vocabulary.name!r} has no get_vocabulary(); pass the token list")
        vocabulary = vocabulary.get_vocabulary()
    return [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in vocabulary]


def _documents(ids, vocab):
    """Each probe's tokens; trailing padding (id 0 when the vocabulary's token 0 is "") is cut off."""
    docs = []
    pad = vocab is not None and len(vocab) > 0 and vocab[0] == ""
    for row in np.asarray(ids):
        row = [int(i) for i in row]
        if pad:
            while row and row[-1] == 0:
                row.pop()
        docs.append([vocab[i] if vocab is not None and 0 <= i < len(vocab) else f"#{i}" for i in row])
    return docs


def _repeat(inputs, times):
    """Each probe repeated ``times`` times in a row (probe-major), for one batch of probes × targets."""
    if isinstance(inputs, list):
        return [np.repeat(x, times, axis=0) for x in inputs]
    return np.repeat(inputs, times, axis=0)

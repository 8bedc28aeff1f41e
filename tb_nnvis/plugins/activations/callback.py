"""``ActivationsCallback``: a thin adapter from Keras training events to the activation summaries."""
import logging
import queue
import threading

import keras
import numpy as np

from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core import topk
from tb_nnvis.plugins.activations import summary

logger = logging.getLogger("tb_nnvis")


class ActivationsCallback(keras.callbacks.Callback):
    """Write the feature maps of chosen layers for fixed probe inputs while a model trains.

    Every written step holds, for each layer, the maps of every unit for every probe (an 8-bit atlas
    with per-unit ranges) and per-unit statistics. The probe inputs themselves are written once.
    Steps are the optimizer's iteration count, so the maps line up with the loss curves; the
    state before training is written as well (step 0 for a fresh model).

    Args:
      log_dir: where to write; a directory TensorBoard's ``--logdir`` covers (any ``tf.io.gfile`` path).
      probes: a few fixed inputs (numpy array, or a list of arrays for multi-input models), e.g.
        ``x_val[:8]``. Keep it small: the cost is one forward pass of this batch per written step.
      layers: None for every layer with a spatial or unit axis (nested models expanded), or names,
        paths (``"mobilenetv2_1.00_224/block_1_expand"``) or layer objects.
      every_n_epochs: write at the end of every n-th epoch (0 or None: never at epoch ends).
      every_n_batches: also write every n-th training batch (None: off).
      max_units: write at most this many units per layer (the first ones); None for all.
      examples: optional dataset inputs (e.g. ``x_val[:1000]``) to find, for every unit, the ``top_k``
        examples that excite it most, as in the Deep Visualization Toolbox. Costs one forward pass
        over them at the start and at each epoch write (not at batch writes); image inputs are also
        written once so the dashboard can show them.
      top_k: how many top examples to keep per unit.

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

    def __init__(self, log_dir, probes, layers=None, every_n_epochs=1, every_n_batches=None, max_units=None,
                 examples=None, top_k=9):
        super().__init__()
        if not isinstance(log_dir, (str, bytes)) and not hasattr(log_dir, "__fspath__"):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        if probes is None:
            raise ValueError("probes must be a few fixed inputs, e.g. probes=x_val[:8]")
        self.probes = _batch(probes)
        first = _first_input(self.probes)
        if first.ndim < 1 or len(first) == 0:
            raise ValueError(f"probes must be a batch of at least one input, got shape {first.shape}")
        if len(first) > 64:
            raise ValueError(f"{len(first)} probes is too many to draw; pass a few (e.g. probes=x_val[:8])")
        self.examples = None
        if examples is not None:
            self.examples = _batch(examples)
            if len(_first_input(self.examples)) == 0:
                raise ValueError("examples must hold at least one input, e.g. examples=x_val[:1000]")
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        self.top_k = int(top_k)
        for name, value in (("every_n_epochs", every_n_epochs), ("every_n_batches", every_n_batches),
                            ("max_units", max_units)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        self.log_dir = str(log_dir)
        self.layers = layers
        self.every_n_epochs = every_n_epochs or 0
        self.every_n_batches = every_n_batches or 0
        self.max_units = max_units
        self.layer_paths = None
        self.written_steps = []
        self._top_steps = []
        self._taps = None
        self._writer = None
        self._failed = set()

    # ---- Keras events -----------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        if not _is_chief():
            return
        self.layer_paths = taps_lib.resolve(self.model, self.layers)
        self._taps = taps_lib.TapModel(self.model, self.layer_paths)
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._start_worker()
        step = self._step()
        probes = _first_input(self.probes)
        self._jobs.put(("probe inputs", lambda: summary.probe_inputs(probes, step=step)))
        if self.examples is not None:
            examples = _first_input(self.examples)
            self._jobs.put(("dataset examples", lambda: summary.dataset_examples(examples, step=step)))
        self._write(step, top=True)

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches and self._writer is not None:
            step = self._step()
            if step % self.every_n_batches == 0:
                self._write(step)

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_epochs and self._writer is not None and (epoch + 1) % self.every_n_epochs == 0:
            self._write(self._step(), top=True)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._jobs.put(None)
            self._worker.join()
            self._writer.flush()

    # ---- writing ----------------------------------------------------------------------------------

    def _step(self):
        return int(self.model.optimizer.iterations.numpy()) if self.model.optimizer is not None else 0

    def _write(self, step, top=False):
        """Tap the probes on the training thread (the weights of this step); encode and write on the
        worker thread, so that training does not wait for PNG compression or the disk."""
        if top and self.examples is not None and step not in self._top_steps:
            self._top_steps.append(step)
            self._guard("top examples", lambda: self._write_top_examples(step))
        if step in self.written_steps:
            return
        outputs = self._guard("forward pass of the probes", lambda: self._taps(self.probes))
        if outputs is None:
            return
        for path, value in outputs.items():
            value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            if self.max_units is not None:
                value = value[..., : self.max_units]
            self._jobs.put((path, lambda p=path, v=value: summary.activations(p, v, step=step)))
        self._jobs.put(("flush", self._writer.flush))
        self.written_steps.append(step)

    def _write_top_examples(self, step, batch_size=64):
        """One pass over the examples, keeping each unit's top-k (the same weights as this step's maps)."""
        multi = isinstance(self.examples, list)
        n = len(_first_input(self.examples))
        tops, shapes = {}, {}
        for start in range(0, n, batch_size):
            batch = ([e[start:start + batch_size] for e in self.examples] if multi
                     else self.examples[start:start + batch_size])
            for path, value in self._taps(batch).items():
                value = np.asarray(value)
                if self.max_units is not None:
                    value = value[..., : self.max_units]
                if path not in tops:
                    tops[path], shapes[path] = topk.TopK(self.top_k, value.shape[-1]), value.shape[1:-1]
                tops[path].update(value, start)
        for path, top in tops.items():
            self._jobs.put((path + " top examples", lambda p=path, t=top, s=shapes[path]:
                            summary.top_examples(p, t, step=step, map_shape=s)))

    def _start_worker(self):
        # Bounded, so a slow disk slows training a little instead of filling memory.
        self._jobs = queue.Queue(maxsize=64)
        self._worker = threading.Thread(target=self._work, name="tb_nnvis-activations", daemon=True)
        self._worker.start()

    def _work(self):
        with self._writer.as_default():
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                self._guard(*job)

    def _guard(self, what, fn):
        """Run a summary; a failure is a warning (once per layer), never the end of training."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - training must go on
            if what not in self._failed:
                self._failed.add(what)
                logger.warning("tb_nnvis: could not write activations of %s (%s: %s); training goes on",
                               what, type(e).__name__, e)
            return None


def _batch(inputs):
    """A batch of model inputs as numpy: one array, or a list of arrays for a multi-input model."""
    return [np.asarray(x) for x in inputs] if isinstance(inputs, (list, tuple)) else np.asarray(inputs)


def _first_input(inputs):
    return inputs[0] if isinstance(inputs, list) else inputs


def _is_chief():
    """Under a multi-worker strategy only the chief writes, as TensorBoard expects one writer per run."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())

"""``RNNCellsCallback``: per-timestep traces of a model's recurrent layers over fixed probe texts, during ``fit``."""
import json

import keras
import numpy as np

from tb_nnvis.core import cells as cells_lib
from tb_nnvis.core.compiled import TracedLater
from tb_nnvis.core.rnn.traces import TRACE_KINDS, Tracer, _directions
from tb_nnvis.plugins._budget import names, warn_over
from tb_nnvis.plugins._callback import SummaryCallback, check_count
from tb_nnvis.plugins.rnn import budget, summary

_VECTORIZERS = (keras.layers.TextVectorization, keras.layers.StringLookup)


class RNNCellsCallback(SummaryCallback):
    """Write the hidden state, cell state and gates of every step of the probe texts while a model trains.

    Args:
      log_dir: where to write (a directory TensorBoard's ``--logdir`` covers).
      probe_texts: a few plain strings (at most 32, each at most ``max_length`` tokens) with what you
        want to see cells react to: quotes, brackets, if-blocks, long lines.
      vocabulary: how texts become model inputs: the tokens in index order (a character model's
        characters, or words), or the model's own ``TextVectorization``/``StringLookup`` layer. None:
        the first such layer inside the model. Unknown tokens map to ``"[UNK]"`` when the vocabulary has it.
      layers: None for every LSTM/GRU/SimpleRNN layer (plain or in ``Bidirectional``), or names, paths
        or layer objects.
      every_n_epochs, every_n_batches: when to write (see :class:`SummaryCallback`).
      top_k: for next-token models (output ``[batch, steps, len(vocabulary)]``), how many next-token
        guesses to keep per position; 0 for none.
      max_length: the longest probe text accepted, in tokens.
      max_bytes_per_step: the budget of one written step (default 5 MB, estimated from the probes' length and
        the layers' cells at the start of training; see :mod:`tb_nnvis.plugins.rnn.budget`). Layers that would
        write more are cut to their first cells, with a warning that says how to change it; None writes all.

    Probes of different lengths are padded with id 0 after their end; the dashboard shows only their
    real tokens (a Bidirectional layer's backward direction does read the padding unless the model
    masks it, e.g. ``Embedding(mask_zero=True)``).

    >>> import keras, numpy as np, tempfile
    >>> chars = sorted(set("abc ()"))
    >>> model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(len(chars), 4),
    ...                           keras.layers.LSTM(8, return_sequences=True, name="lstm"),
    ...                           keras.layers.Dense(len(chars))])
    >>> cb = RNNCellsCallback(tempfile.mkdtemp(), ["a (b) c"], vocabulary=chars)
    >>> cb.set_model(model); cb.on_train_begin(); cb.on_train_end()   # what model.fit(..., callbacks=[cb]) does
    >>> cb.layer_paths, cb.written_steps, cb.tokens
    (['lstm'], [0], [['a', ' ', '(', 'b', ')', ' ', 'c']])
    """

    name = "RNN traces"

    def __init__(self, log_dir, probe_texts, vocabulary=None, layers=None, every_n_epochs=1,
                 every_n_batches=None, top_k=5, max_length=5000, max_bytes_per_step=5_000_000):
        super().__init__(log_dir, every_n_epochs, every_n_batches)
        check_count("max_bytes_per_step", max_bytes_per_step)
        self.max_bytes_per_step = max_bytes_per_step
        self.cells = None  # how many cells per layer are written (None: all), lowered to fit the budget
        if isinstance(probe_texts, str) or not isinstance(probe_texts, (list, tuple)) or not probe_texts:
            raise ValueError("probe_texts must be a list of a few strings, e.g. ['x = \"a\"\\nif y:\\n    z()']")
        if len(probe_texts) > 32:
            raise ValueError(f"{len(probe_texts)} probe texts are too many to show; pass at most 32")
        bad = [i for i, t in enumerate(probe_texts) if not isinstance(t, str) or not t]
        if bad:
            raise ValueError(f"probe_texts must be non-empty strings; entry {bad[0]} is {probe_texts[bad[0]]!r}")
        check_count("top_k", top_k)
        check_count("max_length", max_length)
        if vocabulary is not None and not isinstance(vocabulary, _VECTORIZERS):
            vocabulary = _token_list(vocabulary)
        self.probe_texts = list(probe_texts)
        self.vocabulary = vocabulary
        self.layers = layers
        self.top_k = int(top_k)
        self.max_length = int(max_length)
        self.layer_paths = None
        self.tokens = None

    def setup(self):
        self._feed, self.tokens, self._vocab = _tokenize(self.model, self.probe_texts, self.vocabulary,
                                                         self.max_length)
        self._tracer = Tracer(self.model, self.layers)
        self.layer_paths = self._tracer.paths
        self._forward = TracedLater(lambda x: self.model(x, training=False))
        if self.max_bytes_per_step is not None:
            self.cells = self._cells_within_budget()

    def write(self, step, epoch_end):
        if step in self.written_steps:
            return
        result = self._tracer(self._feed)
        for path, traces in result.items():
            if self.cells is not None:
                traces = {kind: values[..., :self.cells] for kind, values in traces.items()}
            self.submit(path, lambda p=path, t=traces: summary.rnn_traces_pb(p, self._fit(t), t), step=step)
        if self.top_k and self._vocab is not None:
            probs = self.guard("next-token predictions", self._probabilities)
            if probs is not None:
                self.submit("next-token predictions", lambda: summary.rnn_predictions_pb(
                    self._fit(probs), probs, self._vocab, k=self.top_k), step=step)

    def _cells_within_budget(self):
        """None, or the most cells per layer (the first ones) that keep a written step within
        ``max_bytes_per_step``, with a warning."""
        layers = {path + suffix: budget.Layer(len(TRACE_KINDS[cells_lib.cell_kind(rnn)]), int(rnn.cell.units))
                  for path, layer in zip(self._tracer.paths, self._tracer.layers) for suffix, rnn in _directions(layer)}
        probes, header = len(self.tokens), len(json.dumps(self.tokens))
        ids = getattr(self._feed, "shape", ())  # token ids [P, T]; texts fed to the model's own vectorizer: [P]
        steps = int(ids[1]) if len(ids) == 2 else max(len(t) for t in self.tokens)
        out = tuple(self.model.outputs[0].shape) if getattr(self.model, "outputs", None) else ()
        predicts = self.top_k and self._vocab is not None and len(out) == 3 and out[-1] == len(self._vocab)
        predictions = budget.predictions_bytes(probes, steps, self.top_k, self._vocab) if predicts else 0
        estimated = budget.step_bytes(layers, probes, steps, header, predictions=predictions)
        cells = budget.units_within(layers, probes, steps, header, self.max_bytes_per_step, predictions)
        if cells is not None:
            what = "the recurrent layers" if self.layers is None else "the chosen layers"
            warn_over(what, self.model.name, estimated, self.max_bytes_per_step,
                      f"{len(layers)} layer{'s' if len(layers) > 1 else ''}, {probes} probe texts of up to "
                      f"{steps} tokens",
                      f"writing the first {cells} cells of {names(p for p, l in layers.items() if l.cells > cells)}",
                      budget.step_bytes(layers, probes, steps, header, cells, predictions),
                      "pass fewer or shorter probe texts, fewer layers (layers=[...])")
        return cells

    def _fit(self, traces):
        """The tokens, cut to the steps the traces have (a vectorizer may cut texts short)."""
        steps = next(iter(traces.values())).shape[1] if isinstance(traces, dict) else traces.shape[1]
        return [t[:steps] for t in self.tokens]

    def _probabilities(self):
        """Next-token probabilities ``[P, T, V]`` if the model predicts over the vocabulary, else None."""
        out = self._forward(self._feed)
        out = out[0] if isinstance(out, (list, tuple)) else out
        out = np.asarray(out, np.float64)
        if out.ndim != 3 or out.shape[2] != len(self._vocab):
            return None
        if out.min() < 0 or not np.allclose(out.sum(-1), 1.0, atol=1e-3):  # logits
            out = np.exp(out - out.max(-1, keepdims=True))
            out /= out.sum(-1, keepdims=True)
        return out


def _token_list(vocabulary):
    if isinstance(vocabulary, str) or not hasattr(vocabulary, "__iter__"):
        raise ValueError("vocabulary must be the tokens in index order (e.g. a list of characters), or "
                         "the model's TextVectorization/StringLookup layer")
    tokens = [str(v) for v in vocabulary]
    if not tokens:
        raise ValueError("vocabulary is empty")
    return tokens


def _char_level(vocab):
    return sum(len(v) == 1 for v in vocab) >= 0.5 * len(vocab)


def _find_vectorizer(model):
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, _VECTORIZERS):
            return layer
    raise ValueError(f"model {model.name!r} has no TextVectorization or StringLookup layer: pass "
                     "vocabulary=<the tokens in index order> (a character model's characters) or the layer")


def _tokenize(model, texts, vocabulary, max_length):
    """``(model input, tokens per probe, vocabulary list)`` for the probe texts."""
    import tensorflow as tf

    if vocabulary is None:
        vocabulary = _find_vectorizer(model)
    string_input = any(getattr(t, "dtype", None) == "string" for t in model.inputs)
    if isinstance(vocabulary, keras.layers.TextVectorization):
        vocab = [str(v) for v in vocabulary.get_vocabulary()]
        ids = np.asarray(vocabulary(tf.constant(texts)))
        if ids.ndim == 1:  # a single text may come back without its batch axis
            ids = ids[None]
        lengths = [int(np.flatnonzero(row).max() + 1) if row.any() else 0 for row in ids]
        tokens = [[vocab[i] for i in row[:n]] for row, n in zip(ids, lengths)]
    else:
        lookup = vocabulary if isinstance(vocabulary, keras.layers.StringLookup) else None
        vocab = [str(v) for v in lookup.get_vocabulary()] if lookup is not None else vocabulary
        char = _char_level(vocab)
        tokens = [list(t) if char else t.split() for t in texts]
        index = {v: i for i, v in enumerate(vocab)}
        rows = []
        for p, toks in enumerate(tokens):
            missing = [t for t in toks if t not in index]
            if missing and "[UNK]" not in index:
                raise ValueError(f"token {missing[0]!r} of probe text {p} is not in the vocabulary; remove it "
                                 "from the probe or add '[UNK]' to the vocabulary")
            rows.append([index.get(t, index.get("[UNK]")) for t in toks])
        ids = np.zeros((len(rows), max(len(r) for r in rows)), "int32")
        for p, r in enumerate(rows):
            ids[p, :len(r)] = r
    if max(len(t) for t in tokens) > max_length:
        raise ValueError(f"a probe text has {max(len(t) for t in tokens)} tokens; the most is max_length="
                         f"{max_length}")
    if any(len(t) == 0 for t in tokens):
        raise ValueError("a probe text has no token the vocabulary knows")
    feed = tf.constant(texts) if string_input else ids
    return feed, tokens, vocab

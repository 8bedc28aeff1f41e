"""Numpy encoding of RNN traces and next-token predictions into the blobs the plugin reads (no TensorFlow).

Values are quantised to 8 bits per (kind, cell), over the real steps of all probes: ``q = round((v - lo) /
(hi - lo) * 254)``, 255 for NaN/Inf, so a decoded value is within ``(hi - lo) / 508`` of the original.
The uint8 block is zlib-compressed (gates saturate, so it compresses well).

>>> import numpy as np
>>> tr = {"hidden": np.tanh(np.random.default_rng(0).normal(size=(2, 5, 3)))}
>>> blobs = encode_traces([list("hello"), list("hi")], tr)
>>> dec = decode_traces(blobs)
>>> dec.header["lengths"], dec.values("hidden").shape
([5, 2], (2, 5, 3))
>>> step = (dec.ranges[0, :, 1] - dec.ranges[0, :, 0]) / 508
>>> bool(np.all(np.abs(dec.values("hidden")[0] - tr["hidden"][0]) <= step + 1e-7))
True
"""
import json
import zlib
from typing import NamedTuple

import numpy as np

from tb_nnvis.core.rnn.search import valid_mask
from tb_nnvis.plugins.rnn import metadata

NONFINITE = 255
LEVELS = 254
# The order kinds are stored in (and shown in); what a cell type has comes from tb_nnvis.core.rnn.
KIND_ORDER = ("hidden", "cell", "input_gate", "forget_gate", "output_gate", "update_gate", "reset_gate",
              "candidate")
GATES = ("input_gate", "forget_gate", "output_gate", "update_gate", "reset_gate")
MAX_STEPS = 20000


def cell_type(kinds):
    """``"lstm"``, ``"gru"`` or ``"simple_rnn"`` from the trace kinds a layer has."""
    return "lstm" if "cell" in kinds else "gru" if "update_gate" in kinds else "simple_rnn"


def tokens_of(tokens, count):
    """The tokens as a list (per probe) of lists of strings; a plain string is its characters."""
    if isinstance(tokens, str) or not hasattr(tokens, "__len__") or len(tokens) != count:
        raise ValueError(f"tokens must be a list with one entry (a string or a list of tokens) per probe, "
                         f"{count} in all")
    return [list(t) if isinstance(t, str) else [str(x) for x in t] for t in tokens]


def check_traces(traces):
    """``{kind: float [P, T, U]}`` in :data:`KIND_ORDER`, all of one shape; ValueError otherwise."""
    if not isinstance(traces, dict) or not traces:
        raise ValueError("traces must be a dict {kind: [probes, steps, units]}, e.g. one layer of "
                         "tb_nnvis.rnn.traces(model, inputs)")
    unknown = [k for k in traces if k not in KIND_ORDER]
    if unknown:
        raise ValueError(f"unknown trace kinds {unknown}; kinds are {list(KIND_ORDER)}")
    if "hidden" not in traces:
        raise ValueError("traces need at least 'hidden'")
    out, shape = {}, None
    for kind in KIND_ORDER:
        if kind not in traces:
            continue
        v = np.asarray(traces[kind])
        if v.dtype == object or not np.issubdtype(v.dtype, np.number):
            raise ValueError(f"trace {kind!r} must be numeric, got dtype {v.dtype}")
        if v.ndim != 3 or 0 in v.shape:
            raise ValueError(f"trace {kind!r} must be [probes, steps, units], got shape {v.shape}")
        if shape is not None and v.shape != shape:
            raise ValueError(f"trace {kind!r} has shape {v.shape}, 'hidden' has {shape}")
        shape = v.shape
        out[kind] = v.astype(np.float32, copy=False)
    if shape[1] > MAX_STEPS:
        raise ValueError(f"traces of {shape[1]} steps are too long to show; use probe texts of at most "
                         f"{MAX_STEPS} tokens")
    return out


def quantize(values, valid):
    """``(q uint8 [P, T, U], ranges float32 [U, 2])`` over the valid steps ``[P, T]``.

    One pass per statistic in float32 when every value is finite and every step real (the usual case).
    """
    finite = np.isfinite(values)
    simple = bool(valid.all()) and bool(finite.all())
    if simple:
        lo, hi = values.min(axis=(0, 1)), values.max(axis=(0, 1))
    else:
        ok = finite & valid[..., None]
        lo = np.where(ok, values, np.inf).min(axis=(0, 1))
        hi = np.where(ok, values, -np.inf).max(axis=(0, 1))
        empty = ~np.isfinite(lo)
        lo, hi = np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)
    lo, hi = lo.astype(np.float32), hi.astype(np.float32)
    span = hi - lo
    scale = np.where(span > 0, LEVELS / np.where(span > 0, span, 1), 0).astype(np.float32)
    q = (values if simple else np.where(finite, values, lo)) - lo
    q *= scale
    np.rint(q, out=q)
    np.clip(q, 0, LEVELS, out=q)
    q = q.astype(np.uint8)
    if not simple:
        q[~finite & valid[..., None]] = NONFINITE
    return q, np.stack([lo, hi], axis=-1)


def encode_traces(tokens, traces, zlevel=1):
    """Blobs ``[header, ranges, values]`` for one layer at one step (see :mod:`.metadata`)."""
    traces = check_traces(traces)
    p, t, u = traces["hidden"].shape
    toks = tokens_of(tokens, p)
    lengths = [len(x) for x in toks]
    if max(lengths) > t:
        raise ValueError(f"a probe has {max(lengths)} tokens but the traces have only {t} steps")
    valid = valid_mask(lengths, t)
    kinds = list(traces)
    qs, ranges = zip(*(quantize(traces[k], valid) for k in kinds))
    header = {"version": metadata.VERSION, "kinds": kinds, "cell": cell_type(kinds), "shape": [p, t, u],
              "lengths": lengths, "tokens": toks}
    return [json.dumps(header).encode("utf-8"), np.stack(ranges).astype("<f4").tobytes(),
            zlib.compress(np.stack(qs).tobytes(), zlevel)]


class Decoded(NamedTuple):
    header: dict
    ranges: np.ndarray  # float32 [K, U, 2]
    q: np.ndarray  # uint8 [K, P, T, U]

    def index(self, kind):
        """The position of a kind; ``"state"`` is tanh(cell) for an LSTM and the hidden state otherwise."""
        kinds = self.header["kinds"]
        if kind == "state":
            kind = "cell" if "cell" in kinds else "hidden"
        if kind not in kinds:
            raise KeyError(f"no trace {kind!r}; this layer has {kinds}")
        return kinds.index(kind)

    def values(self, kind, probe=None, cell=None):
        """Dequantised float32 ``[P, T, U]`` of one kind (NaN where the value was not finite); with ``probe``
        and ``cell``, only that cell over that probe's steps ``[T]``."""
        k = self.index(kind)
        lo, hi = self.ranges[k, :, 0], self.ranges[k, :, 1]
        q = self.q[k]
        if probe is not None:
            q, lo, hi = q[probe, :, cell], lo[cell], hi[cell]
        v = lo + q.astype(np.float32) * ((hi - lo) / LEVELS)
        v = np.where(q == NONFINITE, np.nan, v).astype(np.float32)
        return np.tanh(v) if kind == "state" and "cell" in self.header["kinds"] else v


def decode_traces(blobs):
    """:class:`Decoded` from a traces series' blobs; ValueError when they are not what they claim."""
    if len(blobs) != 3:
        raise ValueError(f"expected 3 blobs (header, ranges, values), got {len(blobs)}")
    try:
        header = json.loads(bytes(blobs[metadata.HEADER]).decode("utf-8"))
        p, t, u = (int(s) for s in header["shape"])
        k = len(header["kinds"])
        lengths, tokens = header["lengths"], header["tokens"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable traces header: {e}") from None
    if len(lengths) != p or len(tokens) != p or any(len(x) != n or n > t for x, n in zip(tokens, lengths)):
        raise ValueError("traces header: tokens and lengths do not match the shape")
    ranges = bytes(blobs[metadata.RANGES])
    if len(ranges) != 4 * k * u * 2:
        raise ValueError(f"ranges blob has {len(ranges)} bytes, expected float32 {k}x{u}x2")
    try:
        raw = zlib.decompress(bytes(blobs[metadata.VALUES]))
    except zlib.error as e:
        raise ValueError(f"values blob is not zlib data: {e}") from None
    if len(raw) != k * p * t * u:
        raise ValueError(f"values blob holds {len(raw)} bytes, expected {k}x{p}x{t}x{u}")
    return Decoded(header, np.frombuffer(ranges, "<f4").reshape(k, u, 2),
                   np.frombuffer(raw, np.uint8).reshape(k, p, t, u))


def encode_predictions(tokens, probabilities, vocabulary, k=5):
    """Blobs ``[header, ids int32 [P, T, k], probabilities float16 [P, T, k]]``: the top-k next tokens.

    ``probabilities`` is ``[P, T, V]`` over ``vocabulary`` (V tokens, in index order).

    >>> import numpy as np
    >>> probs = np.array([[[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]])
    >>> dec = decode_predictions(encode_predictions([["a", "b"]], probs, ["x", "y", "z"], k=2))
    >>> dec["top"][0][0]
    [['y', 0.7001953125], ['z', 0.199951171875]]
    """
    probs = np.asarray(probabilities, np.float32)
    vocabulary = [str(v) for v in vocabulary]
    if probs.ndim != 3 or probs.shape[2] != len(vocabulary):
        raise ValueError(f"probabilities must be [probes, steps, {len(vocabulary)}] (one per vocabulary "
                         f"token), got shape {probs.shape}")
    toks = tokens_of(tokens, probs.shape[0])
    k = max(1, min(int(k), probs.shape[2]))
    ids = np.argsort(-np.nan_to_num(probs, nan=-1.0), axis=-1, kind="stable")[..., :k].astype("<i4")
    top = np.take_along_axis(probs, ids, axis=-1).astype("<f2")
    header = {"version": metadata.VERSION, "k": k, "vocabulary": vocabulary, "shape": list(ids.shape),
              "lengths": [len(x) for x in toks]}
    return [json.dumps(header).encode("utf-8"), ids.tobytes(), top.tobytes()]


def decode_predictions(blobs):
    """``{"k", "lengths", "top": [probe][position] -> [[token, probability], ...]}``."""
    if len(blobs) != 3:
        raise ValueError(f"expected 3 blobs (header, ids, probabilities), got {len(blobs)}")
    try:
        header = json.loads(bytes(blobs[metadata.HEADER]).decode("utf-8"))
        p, t, k = (int(s) for s in header["shape"])
        vocab, lengths = header["vocabulary"], header["lengths"]
        ids = np.frombuffer(bytes(blobs[metadata.IDS]), "<i4").reshape(p, t, k)
        probs = np.frombuffer(bytes(blobs[metadata.PROBS]), "<f2").reshape(p, t, k)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable predictions: {e}") from None
    if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
        raise ValueError("predictions refer to tokens outside the vocabulary")
    top = [[[[vocab[i], float(pr)] for i, pr in zip(ids[a, b], probs[a, b])] for b in range(min(t, lengths[a]))]
           for a in range(p)]
    return {"k": k, "lengths": lengths, "top": top}

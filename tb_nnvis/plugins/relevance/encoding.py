"""Numpy encoding of relevance into the blobs and tensors the plugin reads (see :mod:`.metadata`).

Shared by the TensorFlow summaries, the numpy ``*_pb`` summaries and the tests; needs no TensorFlow.

>>> import numpy as np
>>> blobs = encode_image(np.random.rand(2, 8, 8, 3), np.random.rand(2, 8, 8, 3), np.random.rand(2, 4), [1, 3])
>>> len(blobs), decode_header(blobs[0])["shape"]
(6, [2, 1, 8, 8])
"""
import json

import numpy as np

from tb_nnvis.core import images
from tb_nnvis.plugins.relevance import metadata


def _targets(target, probes, classes):
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full((probes, 1), t)
    elif t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or len(t) != probes or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"target must be one class index per probe ([{probes}]) or several ([{probes}, T]), "
                         f"got {np.asarray(target).dtype} of shape {np.shape(target)}")
    if t.size and (t.min() < 0 or t.max() >= classes):
        raise ValueError(f"target classes must be in 0..{classes - 1} (the scores have {classes} classes), "
                         f"got {t.min()}..{t.max()}")
    return t.astype(np.int64)


def _scores(scores):
    s = np.asarray(scores, dtype=np.float32)
    if s.ndim != 2 or 0 in s.shape:
        raise ValueError(f"scores must be [probes, classes] (the logits), got shape {s.shape}")
    return s


def _header(kind, scores, targets, labels, class_names, composite, shape, **extra):
    p, k = scores.shape
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != p or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"labels must be {p} class indices in 0..{k - 1}, got {labels.tolist()!r}")
        labels = [int(v) for v in labels]
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != k:
            raise ValueError(f"class_names has {len(class_names)} names for {k} classes")
    return {"version": metadata.VERSION, "kind": kind, "probes": p, "classes": k,
            "targets": targets.tolist(), "labels": labels, "class_names": class_names,
            "composite": composite, "shape": [int(v) for v in shape], **extra}


def _with_targets(relevance, per_probe, targets):
    """Relevance as ``[P, T] + per_probe``; one target per probe may come without the T axis."""
    rel = np.asarray(relevance, dtype=np.float32)
    p, t = targets.shape
    if rel.shape == (p,) + tuple(per_probe) and t == 1:
        return rel[:, None]
    if rel.shape != (p, t) + tuple(per_probe):
        raise ValueError(f"relevance must be [probes, targets, ...] = {[p, t] + list(per_probe)} (or without the "
                         f"targets axis for one target), got {list(rel.shape)}")
    return rel


def _sums(rel):
    with np.errstate(invalid="ignore", over="ignore"):
        return np.nansum(rel.reshape(rel.shape[0], rel.shape[1], -1).astype(np.float64), axis=-1).astype("<f4")


def encode_image(inputs, relevance, scores, target, labels=None, class_names=None, composite="lrp"):
    """Blobs of one step of image relevance: header, scores, sums, relevance ``[P, T, H, W]``, input PNGs.

    ``inputs``: ``[P, H, W]`` or ``[P, H, W, C]``; ``relevance``: shaped like the inputs with a targets
    axis after the probes (or without it for one target per probe); colour channels are summed.
    """
    x = np.asarray(inputs)
    if x.ndim not in (3, 4) or 0 in x.shape:
        raise ValueError(f"image inputs must be [probes, H, W] or [probes, H, W, channels], got shape {x.shape}")
    scores = _scores(scores)
    if len(scores) != len(x):
        raise ValueError(f"{len(scores)} rows of scores for {len(x)} inputs")
    targets = _targets(target, len(x), scores.shape[1])
    rel = _with_targets(relevance, x.shape[1:], targets)
    sums = _sums(rel)
    if x.ndim == 4:
        with np.errstate(invalid="ignore", over="ignore"):
            rel = rel.sum(axis=-1)
    pngs = []
    for img in x:
        pixels = images.to_display_image(img)
        if pixels is None:
            raise ValueError(f"inputs of shape {x.shape} cannot be shown as images (1, 3 or 4 channels)")
        pngs.append(images.encode_png(pixels))
    header = _header(metadata.IMAGE, scores, targets, labels, class_names, composite, rel.shape)
    return [json.dumps(header).encode("utf-8"), scores.astype("<f4").tobytes(), sums.tobytes(),
            rel.astype("<f4").tobytes()] + pngs


def encode_text(tokens, relevance, scores, target, labels=None, class_names=None, composite="lrp"):
    """Blobs of one step of text relevance: header (with the tokens), scores, sums, relevance ``[P, T, L]``.

    ``tokens``: one list of strings per probe; ``relevance``: ``[P, (T,) L']`` with ``L'`` at least each
    document's length (values past a document's end are ignored and stored as NaN).
    """
    if isinstance(tokens, (str, bytes)) or not all(isinstance(doc, (list, tuple, np.ndarray)) for doc in tokens):
        raise ValueError("tokens must be one list of strings per probe, e.g. [['a', 'good', 'film'], ...]")
    docs = [[t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in doc] for doc in tokens]
    scores = _scores(scores)
    if len(scores) != len(docs):
        raise ValueError(f"{len(scores)} rows of scores for {len(docs)} documents")
    targets = _targets(target, len(docs), scores.shape[1])
    rel = np.asarray(relevance, dtype=np.float32)
    width = rel.shape[-1] if rel.ndim else 0
    rel = _with_targets(rel, (width,), targets)
    longest = max([len(d) for d in docs] + [0])
    if longest > width:
        raise ValueError(f"a document has {longest} tokens but relevance has only {width} values per document")
    out = np.full(rel.shape[:2] + (max(longest, 1),), np.nan, np.float32)
    for i, doc in enumerate(docs):
        out[i, :, :len(doc)] = rel[i, :, :len(doc)]
    header = _header(metadata.TEXT, scores, targets, labels, class_names, composite, out.shape, tokens=docs)
    return [json.dumps(header).encode("utf-8"), scores.astype("<f4").tobytes(), _sums(out).tobytes(),
            out.astype("<f4").tobytes()]


def encode_units(relevance, target):
    """float32 ``[P, T, 1 + C]``: each target class, then the relevance of each unit summed over positions.

    ``relevance``: a layer's relevance ``[P, T, ..., C]`` (or ``[P, ..., C]`` with one target per probe).
    """
    rel = np.asarray(relevance, dtype=np.float32)
    t = np.asarray(target)
    if t.ndim == 1:  # one target per probe: no targets axis in the relevance either
        t, rel = t[:, None], rel[:, None]
    if t.ndim != 2 or rel.ndim < 3 or rel.shape[:2] != t.shape:
        raise ValueError(f"relevance of shape {np.shape(relevance)} does not match targets of shape "
                         f"{np.shape(target)}: pass [P, T, ..., units] with [P, T] targets or [P, ..., units] "
                         f"with [P] targets")
    per_unit = rel.reshape(rel.shape[0], rel.shape[1], -1, rel.shape[-1]).astype(np.float64).sum(axis=2)
    return np.concatenate([t[..., None].astype(np.float64), per_unit], axis=-1).astype(np.float32)


def encode_unit_heatmaps(units, heatmaps, channels_last=True):
    """Blobs ``[header, scales, float16 heatmaps / scales]`` of per-unit input heatmaps.

    ``heatmaps``: ``[P, U, H, W, C]`` (image; channels summed when ``channels_last``), ``[P, U, H, W]`` or
    ``[P, U, L]`` (text).
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    units = [int(u) for u in np.asarray(units).reshape(-1)]
    if hm.ndim == 5 and channels_last:
        hm = hm.sum(axis=-1)
    if hm.ndim not in (3, 4) or hm.shape[1] != len(units):
        raise ValueError(f"heatmaps must be [probes, units, H, W(, C)] or [probes, units, L] with "
                         f"{len(units)} units, got shape {hm.shape}")
    with np.errstate(invalid="ignore"):
        scales = np.nanmax(np.where(np.isfinite(hm), np.abs(hm), np.nan).reshape(hm.shape[0], hm.shape[1], -1),
                           axis=-1, initial=0.0)
    scales = np.where(scales > 0, scales, 1.0).astype("<f4")
    values = (hm / scales.reshape(scales.shape + (1,) * (hm.ndim - 2))).astype("<f2")
    header = {"version": metadata.VERSION, "units": units, "shape": [int(s) for s in hm.shape]}
    return [json.dumps(header).encode("utf-8"), scales.tobytes(), values.tobytes()]


def decode_header(blob):
    header = json.loads(bytes(blob).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(header.get("shape"), list):
        raise ValueError("relevance header is not a JSON object with a shape")
    return header


def decode_array(blob, shape, dtype="<f4", what="relevance"):
    """A little-endian array of ``shape`` from its blob, with a clear error when the sizes disagree."""
    data = bytes(blob)
    size = np.dtype(dtype).itemsize * int(np.prod(shape))
    if len(data) != size:
        raise ValueError(f"{what} blob has {len(data)} bytes, expected {np.dtype(dtype).name} "
                         f"{'x'.join(map(str, shape))}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)

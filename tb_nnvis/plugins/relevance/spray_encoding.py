"""Numpy encoding of a SpRAy result (:class:`tb_nnvis.lrp.SprayResult`) into the blobs of a ``spray`` series.

One step of the series (tag ``<name>/_spray/<composite>/<class>``) is a blob sequence:

``[header JSON, labels, eigenvalues, embedding, cluster_means, scales, maps, indices, (atlas PNG)]``

- ``header``: the class (``target``) and its name, the composite, N, the map size ``[h, w]``, the number of
  clusters, the one the eigengap picked, the cluster sizes, the display layout's name and, with inputs, the
  thumbnail atlas's grid ``[rows, cols]``;
- ``labels`` int32 ``[N]``; ``eigenvalues`` float32 ``[m]``; ``embedding`` float32 ``[N, 2]``;
  ``cluster_means`` float32 ``[k, h, w]``; ``indices`` int32 ``[N]`` (each example's place in the caller's
  dataset);
- ``maps``: each example's pooled relevance as float16 ``[N, h, w]`` divided by ``scales`` (float32 ``[N]``,
  its largest magnitude), so float16 keeps three digits at any magnitude;
- the atlas: one PNG of every example's input as an ``h × w`` thumbnail (area-averaged), row-major on a
  ``rows × cols`` grid, so that the dashboard draws hundreds of members from one request.

>>> import numpy as np
>>> from tb_nnvis.core.lrp.spray import analyze
>>> maps = np.random.default_rng(0).random((12, 4, 4))
>>> blobs = encode_spray(analyze(maps, n_neighbors=3), inputs=np.random.rand(12, 8, 8, 3), target=2)
>>> header = decode_header(blobs[HEADER])
>>> header["n"], header["size"], header["grid"], len(blobs)
(12, [4, 4], [3, 4], 9)
"""
import json
import math

import numpy as np

from tb_nnvis.core import images
from tb_nnvis.core.lrp.spray import pool_maps
from tb_nnvis.plugins.relevance import metadata

HEADER, LABELS, EIGENVALUES, EMBEDDING, MEANS, SCALES, MAPS, INDICES, ATLAS = range(9)
SPRAY_INFIX = "/_spray/"


def tag_for(name, composite, target):
    """The tag of a class's SpRAy series: ``name/_spray/composite/class``."""
    return f"{name}{SPRAY_INFIX}{composite}/{int(target)}"


def _class_of(result, target):
    if target is not None:
        return int(target)
    classes = np.unique(np.asarray(result.target))
    if len(classes) != 1 or classes[0] < 0:
        raise ValueError("the result explains several classes (or predictions); pass target=<class> to say "
                         "which class it stands for")
    return int(classes[0])


def _maps(result):
    rel = np.asarray(result.relevance, dtype=np.float32)
    if rel.ndim == 2:
        rel = rel[:, None, :]  # text: one row
    if rel.ndim != 3 or 0 in rel.shape:
        raise ValueError(f"result.relevance must be [N, h, w] (or [N, L]), got shape {rel.shape}")
    if not np.isfinite(rel).all():
        raise ValueError("result.relevance contains NaN or Inf")
    return rel


def _checked(result, n, k):
    labels = np.asarray(result.labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 \
            or labels.max() >= k:
        raise ValueError(f"result.labels must be {n} cluster indices in 0..{k - 1}")
    embedding = np.asarray(result.embedding, dtype=np.float32)
    if embedding.shape != (n, 2) or not np.isfinite(embedding).all():
        raise ValueError(f"result.embedding must be finite [N, 2] = [{n}, 2], got {embedding.shape}")
    return labels.astype("<i4"), embedding.astype("<f4")


def thumbnails(inputs, size):
    """Images ``[N, H, W(, C)]`` as uint8 ``[N, h, w, 3]`` thumbnails of at most ``size`` (area-averaged)."""
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"inputs must be images [N, H, W] or [N, H, W, 1|3|4] to show, got shape {np.shape(inputs)}")
    small = np.stack([pool_maps(x[..., c], size) for c in range(min(3, x.shape[-1]))], axis=-1)
    if small.shape[-1] == 1:
        small = np.repeat(small, 3, axis=-1)
    finite = np.isfinite(small)
    lo, hi = (np.min(small[finite]), np.max(small[finite])) if finite.any() else (0.0, 1.0)
    if lo < 0 or hi > 1:  # not in [0, 1]: stretch the whole set's range (one scale, so members compare)
        small = (small - lo) / (hi - lo if hi > lo else 1.0)
    return np.clip(np.rint(np.where(finite, small, 0) * 255), 0, 255).astype(np.uint8)


def atlas(thumbs):
    """``(uint8 [rows*h, cols*w, 3], (rows, cols))``: thumbnails row-major on a near-square grid."""
    n, h, w, _ = thumbs.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    out = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = thumbs[i]
    return out, (rows, cols)


def encode_spray(result, inputs=None, target=None, class_name=None, indices=None):
    """The blobs of one step (see the module docstring) of ``result``; ``inputs``: the N examples it analysed
    (images; None for no thumbnails); ``indices``: their places in the caller's dataset (default 0..N-1)."""
    rel = _maps(result)
    n, h, w = rel.shape
    means = np.asarray(result.cluster_means, dtype=np.float32).reshape(-1, h, w)
    k = len(means)
    labels, embedding = _checked(result, n, k)
    eigenvalues = np.asarray(result.eigenvalues, dtype=np.float32).reshape(-1)
    idx = np.arange(n) if indices is None else np.asarray(indices).reshape(-1)
    if len(idx) != n or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be {n} integers (one per analysed example), got {np.shape(indices)}")
    scales = np.abs(rel).reshape(n, -1).max(axis=1)
    scales = np.where(scales > 0, scales, 1.0).astype("<f4")
    header = {"version": metadata.VERSION, "kind": metadata.SPRAY, "target": _class_of(result, target),
              "class_name": None if class_name is None else str(class_name), "composite": str(result.composite),
              "n": int(n), "size": [int(h), int(w)], "n_clusters": int(k), "gap": int(result.gap),
              "sizes": np.bincount(labels, minlength=k).tolist(), "display": str(result.display), "grid": None}
    blobs = [None, labels.tobytes(), eigenvalues.astype("<f4").tobytes(), embedding.tobytes(),
             means.astype("<f4").tobytes(), scales.tobytes(), (rel / scales[:, None, None]).astype("<f2").tobytes(),
             idx.astype("<i4").tobytes()]
    if inputs is not None:
        x = np.asarray(inputs)
        if len(x) != n:
            raise ValueError(f"{len(x)} inputs for {n} analysed examples: pass the examples given to spray()")
        pixels, grid = atlas(thumbnails(x, (h, w)))
        header["grid"] = list(grid)
        blobs.append(images.encode_png(pixels))
    blobs[HEADER] = json.dumps(header).encode("utf-8")
    return blobs


def decode_header(blob):
    header = json.loads(bytes(blob).decode("utf-8"))
    if not isinstance(header, dict) or header.get("kind") != metadata.SPRAY:
        raise ValueError("not a SpRAy header")
    return header


def decode_spray(blobs):
    """The arrays of one step: ``{header, labels, eigenvalues, embedding, cluster_means, maps, indices}``
    (``maps`` float32, scales applied). ``blobs``: the step's blobs as bytes (the atlas is not decoded)."""
    from tb_nnvis.plugins.relevance.encoding import decode_array

    header = decode_header(blobs[HEADER])
    n, (h, w), k = int(header["n"]), header["size"], int(header["n_clusters"])
    scales = decode_array(blobs[SCALES], (n,), what="scales")
    maps = decode_array(blobs[MAPS], (n, h, w), dtype="<f2", what="maps").astype(np.float32)
    return {"header": header, "labels": decode_array(blobs[LABELS], (n,), dtype="<i4", what="labels"),
            "eigenvalues": np.frombuffer(bytes(blobs[EIGENVALUES]), "<f4"),
            "embedding": decode_array(blobs[EMBEDDING], (n, 2), what="embedding"),
            "cluster_means": decode_array(blobs[MEANS], (k, h, w), what="cluster means"),
            "maps": maps * scales[:, None, None],
            "indices": decode_array(blobs[INDICES], (n,), dtype="<i4", what="indices")}

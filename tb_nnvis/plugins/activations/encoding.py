"""Numpy encoding of a layer's activations into the blobs and statistics that the plugin reads.

Shared by the TensorFlow summary, the numpy ``*_pb`` summary and the tests; needs no TensorFlow.

>>> import numpy as np
>>> enc = encode_activations(np.random.rand(4, 6, 6, 8).astype("float32"))
>>> enc.layout, enc.shape, len(enc.blobs), enc.stats.shape
('spatial', (4, 6, 6, 8), 7, (8, 6))
"""
import json
from typing import NamedTuple

import numpy as np

from tb_nnvis.core import images
from tb_nnvis.plugins.activations import metadata

LAYOUTS = {2: "dense", 3: "sequence", 4: "spatial"}


class Encoded(NamedTuple):
    blobs: list  # bytes: header, ranges, stats, one PNG per probe
    stats: np.ndarray  # float32 [C, len(STAT_FIELDS)]
    layout: str
    shape: tuple  # canonical [P, H, W, C]


def canonicalize(data):
    """``data`` as float32 ``[P, H, W, C]`` and its layout name.

    ``[P, C]`` (dense) becomes ``[P, 1, 1, C]``; ``[P, T, C]`` (sequence) becomes ``[P, 1, T, C]``;
    ``[P, D, H, W, C]`` (volume) stacks its depth slices vertically, ``[P, D*H, W, C]``.
    """
    data = np.asarray(data)
    if data.dtype == object or not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise ValueError(f"activations must be numeric, got dtype {data.dtype}")
    data = data.astype(np.float32, copy=False)
    if data.ndim < 2:
        raise ValueError(
            f"activations must have a probe axis and a unit axis ([probes, units], [probes, T, units] or "
            f"[probes, H, W, units]), got shape {data.shape}")
    if 0 in data.shape:
        raise ValueError(f"activations must not be empty, got shape {data.shape}")
    p, c = data.shape[0], data.shape[-1]
    if data.ndim == 2:
        return data.reshape(p, 1, 1, c), "dense"
    if data.ndim == 3:
        return data.reshape(p, 1, data.shape[1], c), "sequence"
    if data.ndim == 4:
        return data, "spatial"
    # Conv3D and beyond: all leading spatial axes but the last become rows.
    return data.reshape(p, -1, data.shape[-2], c), "volume"


def unit_statistics(maps):
    """Per unit over all probes and positions: mean, std, min, max (of finite values), fraction > 0,
    count of non-finite values; float32 ``[C, 6]`` in the order of ``metadata.STAT_FIELDS``."""
    c = maps.shape[-1]
    flat = maps.reshape(-1, c)
    finite = np.isfinite(flat)
    if finite.all():  # the usual case, in one pass per statistic with float64 accumulators
        return np.stack([flat.mean(0, dtype=np.float64), flat.std(0, dtype=np.float64), flat.min(0), flat.max(0),
                         (flat > 0).mean(0), np.zeros(c)], axis=1).astype(np.float32)
    flat = flat.astype(np.float64)
    n = finite.sum(axis=0)
    safe = np.where(finite, flat, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=0) / n
        std = np.sqrt(np.maximum((np.where(finite, flat - mean, 0.0) ** 2).sum(axis=0) / n, 0.0))
    lo = np.where(finite, flat, np.inf).min(axis=0)
    hi = np.where(finite, flat, -np.inf).max(axis=0)
    empty = n == 0
    mean, std = np.where(empty, np.nan, mean), np.where(empty, np.nan, std)
    lo, hi = np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)
    active = (flat > 0).sum(axis=0) / flat.shape[0]  # +Inf counts as active, NaN does not
    nonfinite = (~finite).sum(axis=0)
    return np.stack([mean, std, lo, hi, active, nonfinite], axis=1).astype(np.float32)


def encode_activations(data, png_level=1):
    """Blobs and statistics for one step of one layer (see :mod:`.metadata` for the layout).

    PNG level 1 is 4x faster than level 6 for 15% more bytes: the training loop pays for it.
    """
    maps, layout = canonicalize(data)
    atlas = images.quantize_atlas(maps)
    p, h, w, c = maps.shape
    header = {"version": metadata.VERSION, "shape": [p, h, w, c], "layout": layout,
              "grid": {"rows": atlas.grid[0], "cols": atlas.grid[1], "tile_h": h, "tile_w": w},
              "original_shape": [int(s) for s in np.shape(data)]}
    ranges = np.concatenate([atlas.ranges, atlas.nonfinite[..., None].astype(np.float32)], axis=-1)
    stats = unit_statistics(maps)
    blobs = [json.dumps(header).encode("utf-8"), ranges.astype("<f4").tobytes(), stats.astype("<f4").tobytes()]
    blobs += [images.encode_png(atlas.pixels[i], png_level) for i in range(p)]
    return Encoded(blobs, stats, layout, (p, h, w, c))


def encode_input_images(data):
    """Blobs ``[header, PNG per input]`` for showing probe or dataset inputs; None if not image-like."""
    data = np.asarray(data)
    pngs = []
    for x in data:
        pixels = images.to_display_image(x)
        if pixels is None:
            return None
        pngs.append(images.encode_png(pixels))
    header = {"version": metadata.VERSION, "count": len(pngs), "shape": [int(s) for s in data.shape]}
    return [json.dumps(header).encode("utf-8")] + pngs


def encode_top_examples(top):
    """float64 ``[C, k, 3]`` (value, index, position) of a :class:`tb_nnvis.core.topk.TopK`."""
    return top.to_array()


def decode_header(blob):
    header = json.loads(bytes(blob).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("activation header is not a JSON object")
    return header


def decode_ranges(blob, shape):
    """float32 ``[P, C, 3]`` (lo, hi, non-finite count) from its blob, checked against ``shape``."""
    p, _, _, c = shape
    return _floats(blob, (p, c, 3), "range")


def decode_stats(blob, units):
    return _floats(blob, (units, len(metadata.STAT_FIELDS)), "statistics")


def _floats(blob, shape, what):
    data = bytes(blob)
    if len(data) != 4 * int(np.prod(shape)):
        raise ValueError(f"{what} blob has {len(data)} bytes, expected float32 {'x'.join(map(str, shape))}")
    return np.frombuffer(data, dtype="<f4").reshape(shape)

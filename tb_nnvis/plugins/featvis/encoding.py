"""Synthesized images to blobs and back: an 8-bit RGB atlas, a transparency atlas, values and a header.

>>> import numpy as np
>>> blobs = encode(np.random.rand(5, 4, 4, 3), units=range(5), values=np.arange(5.0))
>>> header = decode_header(blobs[0])
>>> header["grid"], decode_values(blobs[1], 5).tolist()
([2, 3], [0.0, 1.0, 2.0, 3.0, 4.0])
"""
import json

import numpy as np

from tb_nnvis.core import images as images_lib
from tb_nnvis.plugins.featvis import metadata


def _to_uint8(images, value_range):
    """``[B, H, W, C]`` in ``value_range`` → uint8 RGB ``[B, H, W, 3]`` (grey is repeated, alpha dropped)."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or 0 in x.shape:
        raise ValueError(f"images must be [B, H, W] or [B, H, W, 1|3|4], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("images hold NaN or Inf; a render that diverged cannot be shown")
    lo, hi = value_range
    x = x[..., :3] if x.shape[-1] != 1 else np.repeat(x, 3, axis=-1)
    return np.clip(np.rint((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


def tile(tiles, grid):
    """``[B, H, W, ...]`` tiles into one row-major atlas ``[rows * H, cols * W, ...]`` (empty tiles zero).

    >>> tile(np.arange(1, 4).reshape(3, 1, 1), (2, 2)).tolist()
    [[1, 2], [3, 0]]
    """
    rows, cols = grid
    b, h, w = tiles.shape[:3]
    padded = np.zeros((rows * cols,) + tiles.shape[1:], tiles.dtype)
    padded[:b] = tiles
    padded = padded.reshape((rows, cols, h, w) + tiles.shape[3:])
    return np.swapaxes(padded, 1, 2).reshape((rows * h, cols * w) + tiles.shape[3:])


def encode(images, units, values, origin=None, transparency=None, value_range=None, objective=None):
    """The blobs of one step (see :mod:`.metadata`)."""
    if value_range is None:
        value_range = (float(np.nanmin(images)), float(np.nanmax(images)))
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        hi = lo + 1.0
    pixels = _to_uint8(images, (lo, hi))
    b, h, w, _ = pixels.shape
    units = [int(u) for u in units]
    values = np.asarray(values, np.float32).reshape(-1)
    if len(units) != b or len(values) != b:
        raise ValueError(f"{b} images need {b} units and values, got {len(units)} and {len(values)}")
    origin = units if origin is None else [int(o) for o in origin]
    if len(origin) != b:
        raise ValueError(f"{b} images need {b} origins, got {len(origin)}")
    grid = images_lib.grid_shape(b, h, w)
    alpha = b""
    if transparency is not None:
        t = np.asarray(transparency, np.float64)
        if t.shape != (b, h, w):
            raise ValueError(f"transparency must be [B, H, W] = {(b, h, w)}, got {t.shape}")
        q = np.clip(np.rint(np.nan_to_num(t) * 255), 0, 255).astype(np.uint8)
        alpha = images_lib.encode_png(tile(q, grid))
    header = {"version": metadata.VERSION, "units": units, "origin": origin, "shape": [b, h, w, 3],
              "grid": list(grid), "value_range": [lo, hi], "objective": objective or "channel",
              "transparency": bool(alpha)}
    return [json.dumps(header).encode("utf-8"), values.astype("<f4").tobytes(),
            images_lib.encode_png(tile(pixels, grid)), alpha]


def decode_header(blob):
    """The header dict; ValueError when it is not one tb_nnvis wrote."""
    header = json.loads(bytes(blob).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(header.get("units"), list) or len(header.get("grid", [])) != 2:
        raise ValueError("feature visualization header is not what tb_nnvis writes")
    return header


def decode_values(blob, count):
    """float32 ``[count]`` values; ValueError when the blob holds another number of them."""
    values = np.frombuffer(bytes(blob), dtype="<f4")
    if values.shape != (count,):
        raise ValueError(f"expected {count} values, got {values.size}")
    return values

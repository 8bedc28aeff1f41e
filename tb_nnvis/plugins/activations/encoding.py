"""Numpy encoding of a layer's activations into the blobs and statistics that the plugin reads.

Shared by the TensorFlow summary, the numpy ``*_pb`` summary and the tests; needs no TensorFlow.

>>> import numpy as np
>>> enc = encode_activations(np.random.rand(4, 6, 6, 8).astype("float32"))
>>> enc.layout, enc.shape, len(enc.blobs), enc.stats.shape
('spatial', (4, 6, 6, 8), 4, (8, 6))
>>> frame = decode_frame(enc.blobs[2])                     # probe 2: its header, ranges and atlas
>>> frame.header["probe"], frame.header["channels"], frame.ranges.shape, frame.png[:4] == b"\\x89PNG"
(2, 1, (8, 3), True)
"""
import json
import struct
from typing import NamedTuple

import numpy as np

from tb_nnvis.core import images
from tb_nnvis.plugins.activations import metadata

LAYOUTS = {2: "dense", 3: "sequence", 4: "spatial"}


class Encoded(NamedTuple):
    blobs: list  # bytes: one frame per probe (see encode_frame)
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


class Frame(NamedTuple):
    """One probe's maps at one step: what a grid, a unit's filmstrip tile or its readout needs."""
    header: dict  # version, shape [P, H, W, C], layout, grid, original_shape, probe, channels (1 or 3)
    ranges: np.ndarray  # float32 [C, 3]: each unit's lo, hi and count of non-finite values for this probe
    png: bytes  # the atlas: grey q when channels is 1, else red q and green flag (tb_nnvis.core.images)


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
    blobs = []
    for i in range(p):
        # Without NaN or Inf the flag channel is all zeros: a grey PNG is a third smaller and faster to write.
        grey = not atlas.nonfinite[i].any()
        pixels = atlas.pixels[i, ..., 0] if grey else atlas.pixels[i]
        blobs.append(encode_frame(dict(header, probe=i, channels=1 if grey else 3), ranges[i],
                                  images.encode_png(pixels, png_level)))
    return Encoded(blobs, unit_statistics(maps), layout, (p, h, w, c))


# A frame: MAGIC, the header's length (uint32 little-endian), the header (JSON), the ranges (float32 [C, 3]
# little-endian), the PNG. One blob per probe, so a filmstrip reads one blob per step.
MAGIC = b"nnvA"


def encode_frame(header, ranges, png):
    """One probe's blob: ``header`` (a dict with ``shape``), its ``ranges`` ``[C, 3]`` and its atlas PNG."""
    text = json.dumps(header).encode("utf-8")
    return MAGIC + struct.pack("<I", len(text)) + text + np.asarray(ranges, "<f4").tobytes() + bytes(png)


def is_frame(blob):
    """Whether a blob is a frame (format 2); format 1 steps start with a JSON header instead."""
    return bytes(blob[:len(MAGIC)]) == MAGIC


def decode_frame(blob):
    """The :class:`Frame` of a blob; ValueError when it is not a whole frame."""
    data = bytes(blob)
    if not is_frame(data) or len(data) < len(MAGIC) + 4:
        raise ValueError("activation blob is not a frame")
    start = len(MAGIC) + 4
    (length,) = struct.unpack("<I", data[len(MAGIC):start])
    if len(data) < start + length:
        raise ValueError(f"activation frame cut short: {len(data)} bytes, its header ends at {start + length}")
    header = decode_header(data[start:start + length])
    units = int(header["shape"][3])
    ranges_end = start + length + 12 * units
    if len(data) < ranges_end:
        raise ValueError(f"activation frame cut short: {len(data)} bytes, the ranges of {units} units end at "
                         f"{ranges_end}")
    png = data[ranges_end:]
    if png[:4] != b"\x89PNG":
        raise ValueError(f"activation frame holds no PNG after the float32 ranges of {units} units")
    ranges = _floats(data[start + length:ranges_end], (units, 3), "range")
    return Frame(header, ranges, png)


def atlas_pixels(png):
    """An atlas PNG as uint8 ``[H, W, 3]`` (red q, green flag, blue 0), whether it is grey or RGB.

    >>> import numpy as np
    >>> atlas_pixels(images.encode_png(np.full((2, 3), 7, np.uint8)))[0, 0].tolist()
    [7, 0, 0]
    """
    pixels = images.decode_png(png)
    if pixels.shape[2] >= 3:
        return pixels[..., :3]
    rgb = np.zeros(pixels.shape[:2] + (3,), np.uint8)
    rgb[..., 0] = pixels[..., 0]
    return rgb


def decode_step(blobs):
    """``(header, ranges [P, C, 3], pixels [P, H, W, 3])`` of one written step, in either format.

    >>> import numpy as np
    >>> header, ranges, pixels = decode_step(encode_activations(np.ones((2, 3, 3, 5))).blobs)
    >>> header["shape"], ranges.shape, pixels.shape
    ([2, 3, 3, 5], (2, 5, 3), (2, 6, 9, 3))
    """
    if is_frame(blobs[0]):
        frames = [decode_frame(b) for b in blobs]
        return (frames[0].header, np.stack([f.ranges for f in frames]),
                np.stack([atlas_pixels(f.png) for f in frames]))
    header = decode_header(blobs[metadata.HEADER])  # format 1: header, ranges, statistics, PNG per probe
    ranges = decode_ranges(blobs[metadata.RANGES], header["shape"])
    pixels = np.stack([atlas_pixels(b) for b in blobs[metadata.FIRST_PNG:]])
    return header, ranges, pixels


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

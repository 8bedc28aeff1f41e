"""Pixels: quantising many small maps into one 8-bit atlas, and PNG encoding, with numpy and zlib only.

The atlas is how every dashboard ships a layer's maps to the browser: one PNG per probe input, one
tile per unit, 8 bits per value with a per-unit ``[lo, hi]`` range kept beside it, so that a value
comes back within half a quantisation step, ``(hi - lo) / 510``. Non-finite values cannot be
quantised; they are flagged in a second channel so the dashboards can show NaN and Inf as such.

Channel layout of an atlas PNG (RGB, 8 bit, no alpha so that browsers hand back exact values):

- red: ``q = round((v - lo) / (hi - lo) * 255)``, 0 where the value is not finite;
- green: :data:`FINITE`, :data:`NAN`, :data:`POS_INF` or :data:`NEG_INF`;
- blue: 0.

Example:

>>> import numpy as np
>>> maps = np.random.rand(2, 5, 5, 3).astype("float32")       # [probes, H, W, units]
>>> atlas = quantize_atlas(maps)
>>> atlas.pixels.shape, atlas.ranges.shape, atlas.grid
((2, 10, 10, 3), (2, 3, 2), (2, 2))
>>> back = dequantize_atlas(atlas.pixels, atlas.ranges, 5, 5, 3)
>>> bool(np.all(np.abs(back - maps) <= (atlas.ranges[..., 1] - atlas.ranges[..., 0])[:, None, None, :] / 510 + 1e-7))
True
>>> png = encode_png(atlas.pixels[0])
>>> png[:4] == b"\\x89PNG"
True
"""
import math
import struct
import warnings
import zlib
from typing import NamedTuple

import numpy as np

FINITE, NAN, POS_INF, NEG_INF = 0, 1, 2, 3


class Atlas(NamedTuple):
    """Quantised maps of all units for each probe, tiled.

    pixels: uint8 ``[P, rows*H, cols*W, 3]`` (red value, green flag, blue 0).
    ranges: float32 ``[P, C, 2]``, each unit's finite ``[lo, hi]`` for that probe (``[0, 0]`` if none).
    nonfinite: int32 ``[P, C]``, how many values of each unit were NaN or Inf.
    grid: ``(rows, cols)``.
    """

    pixels: np.ndarray
    ranges: np.ndarray
    nonfinite: np.ndarray
    grid: tuple


def grid_shape(units, tile_h=1, tile_w=1):
    """Rows and columns for tiling ``units`` tiles so the atlas is roughly square.

    >>> grid_shape(64, 8, 8), grid_shape(10), grid_shape(1)
    ((8, 8), (3, 4), (1, 1))
    """
    if units <= 0:
        raise ValueError(f"need at least one unit, got {units}")
    cols = max(1, math.ceil(math.sqrt(units * tile_h / tile_w)))
    cols = min(cols, units)
    rows = math.ceil(units / cols)
    return rows, cols


def quantize_atlas(maps):
    """Quantise ``[P, H, W, C]`` maps to an :class:`Atlas` with per-(probe, unit) ranges.

    NaN and Inf are flagged, not quantised, and do not widen the range.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 4:
        raise ValueError(f"maps must be [probes, H, W, units], got shape {maps.shape}")
    p, h, w, c = maps.shape
    finite = np.isfinite(maps)
    all_finite = bool(finite.all())  # the usual case: skip the masking passes
    values = maps if all_finite else np.where(finite, maps, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN units
        lo = np.nanmin(values, axis=(1, 2)) if not all_finite else values.min(axis=(1, 2))
        hi = np.nanmax(values, axis=(1, 2)) if not all_finite else values.max(axis=(1, 2))
    empty = np.isnan(lo)  # a unit with no finite value at all
    lo = np.where(empty, 0.0, lo).astype(np.float32)
    hi = np.where(empty, 0.0, hi).astype(np.float32)
    # Scale in float64 so that hi - lo does not overflow for extreme float32 ranges.
    span = hi.astype(np.float64) - lo
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
    rows, cols = grid_shape(c, h, w)
    # Tiles in atlas order first ([P, rows, H, cols, W] with padding units), then one pass to quantise.
    padded = np.zeros((p, h, w, rows * cols), np.float32)
    padded[..., :c] = maps
    tiled = padded.reshape(p, h, w, rows, cols).transpose(0, 3, 1, 4, 2).reshape(p, rows * h, cols * w)
    unit_lo = _tile_params(lo, rows, cols, h, w)
    unit_scale = _tile_params(scale.astype(np.float32), rows, cols, h, w)
    pixels = np.zeros((p, rows * h, cols * w, 3), np.uint8)
    with np.errstate(invalid="ignore"):
        q = np.rint((tiled - unit_lo) * unit_scale)
    if all_finite:
        pixels[..., 0] = np.clip(q, 0, 255)
    else:
        ok = np.isfinite(tiled)
        pixels[..., 0] = np.clip(np.where(ok, q, 0), 0, 255)
        flag = pixels[..., 1]
        flag[np.isnan(tiled)] = NAN
        flag[np.isposinf(tiled)] = POS_INF
        flag[np.isneginf(tiled)] = NEG_INF
    nonfinite = np.zeros((p, c), np.int32) if all_finite else (~finite).sum(axis=(1, 2)).astype(np.int32)
    return Atlas(pixels, np.stack([lo, hi], axis=-1), nonfinite, (rows, cols))


def _tile_params(per_unit, rows, cols, h, w):
    """A per-(probe, unit) value ``[P, C]`` broadcast over each unit's tile of the atlas."""
    p, c = per_unit.shape
    padded = np.zeros((p, rows * cols), per_unit.dtype)
    padded[:, :c] = per_unit
    return np.repeat(np.repeat(padded.reshape(p, rows, cols), h, axis=1), w, axis=2)


def dequantize_atlas(pixels, ranges, tile_h, tile_w, units):
    """Inverse of :func:`quantize_atlas`: float32 ``[P, H, W, C]`` (NaN/±Inf restored from the flags)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3:
        pixels, ranges = pixels[None], np.asarray(ranges)[None]
    p = pixels.shape[0]
    rows, cols = pixels.shape[1] // tile_h, pixels.shape[2] // tile_w
    tiles = pixels[..., :2].reshape(p, rows, tile_h, cols, tile_w, 2).transpose(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(p, tile_h, tile_w, rows * cols, 2)[:, :, :, :units]
    ranges = np.asarray(ranges, dtype=np.float64)  # hi - lo can overflow float32
    lo, hi = ranges[..., 0][:, None, None, :], ranges[..., 1][:, None, None, :]
    values = lo + tiles[..., 0] / 255.0 * (hi - lo)
    flag = tiles[..., 1]
    values = np.where(flag == NAN, np.nan, values)
    values = np.where(flag == POS_INF, np.inf, values)
    values = np.where(flag == NEG_INF, -np.inf, values)
    return values.astype(np.float32)


def to_display_image(x):
    """A probe input ``[H, W]`` or ``[H, W, 1|3|4]`` as uint8 for viewing, min-max scaled over the image.

    Returns None when the input is not image-like (e.g. token ids or a feature vector).

    >>> to_display_image(np.zeros((4, 4, 3))).shape, to_display_image(np.zeros((7,))) is None
    ((4, 4, 3), True)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] not in (3, 4)) or min(x.shape[:2]) < 2:
        return None
    if x.ndim == 3:
        x = x[..., :3]
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros(x.shape, np.uint8)
    lo, hi = x[finite].min(), x[finite].max()
    scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return np.clip(np.rint(np.where(finite, scaled, 0) * 255), 0, 255).astype(np.uint8)


def encode_png(image, level=6):
    """PNG bytes of a uint8 image ``[H, W]`` (grey), ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA).

    Rows use PNG's "Sub" filter, which suits smooth feature maps. No colour-space chunks are written,
    so browsers decode the exact stored bytes.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or 0 in image.shape:
        raise ValueError(f"encode_png needs [H, W], [H, W, 3] or [H, W, 4], got {image.shape}")
    h, w, ch = image.shape
    colour_type = {1: 0, 3: 2, 4: 6}[ch]
    flat = image.reshape(h, w * ch)
    raw = np.empty((h, w * ch + 1), np.uint8)
    raw[:, 0] = 1  # filter type Sub: each byte minus the one a pixel to the left, modulo 256
    raw[:, 1:ch + 1] = flat[:, :ch]
    np.subtract(flat[:, ch:], flat[:, :-ch], out=raw[:, ch + 1:])  # uint8 arithmetic wraps modulo 256

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + chunk(b"IEND", b""))


def decode_png(data):
    """Pixels of a PNG (8-bit grey, RGB or RGBA, any filter, not interlaced) as uint8 ``[H, W, C]``.

    Enough for the PNGs this package and TensorFlow write; the server cuts unit strips out of atlases with it.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    w, h, depth, colour_type, _, _, interlace = header
    if depth != 8 or interlace or colour_type not in (0, 2, 4, 6):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, w * ch + 1)
    if (raw[:, 0] == 1).all():  # every row "Sub", as encode_png writes: one cumulative sum (uint8 wraps)
        return np.cumsum(raw[:, 1:].reshape(h, w, ch), axis=1, dtype=np.uint8)
    out = np.zeros((h, w * ch), np.int32)
    prev = np.zeros(w * ch, np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:
            cur = np.cumsum(line.reshape(w, ch), axis=0).reshape(-1) % 256
        elif f == 2:
            cur = (line + prev) % 256
        else:  # Average and Paeth depend on the pixel to the left: go pixel by pixel
            cur = np.zeros_like(line)
            for x in range(w * ch):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                if f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) % 256
        out[y], prev = cur, cur
    return out.reshape(h, w, ch).astype(np.uint8)

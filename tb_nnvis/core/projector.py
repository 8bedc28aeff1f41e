"""What TensorBoard's Projector reads, made with numpy: points, a metadata table and a sprite image.

The Projector (PCA, t-SNE, UMAP) takes, per embedding, a tensor ``[N, D]`` as a TSV file, an
optional metadata TSV (one row per point; a header row when there is more than one column) and an
optional sprite: all thumbnails tiled row by row into one square image of at most 8192 pixels a side.
:mod:`tb_nnvis.projector` writes these files for a layer's activations; this module computes them.

Example:

>>> import numpy as np
>>> points = embedding_points(np.random.rand(5, 4, 4, 3), spatial="mean")
>>> points.shape
(5, 3)
>>> metadata_tsv([0, 1], {"split": ["a", "b"]}).splitlines()
['label\\tsplit\\tindex', '0\\ta\\t0', '1\\tb\\t1']
>>> sprite, (w, h) = sprite_image(np.random.rand(5, 10, 10, 3))
>>> sprite.shape, (w, h)
((30, 30, 3), (10, 10))
"""
import math

import numpy as np

MAX_SPRITE_SIDE = 8192  # the Projector refuses larger sprites
SPATIAL = ("mean", "max", "flatten")


def embedding_points(activations, spatial="mean"):
    """One row per example: a layer's output ``[N, ..., C]`` made 2-D.

    Dense outputs ``[N, C]`` are kept as they are. Outputs with spatial or time axes are pooled over
    them (``"mean"`` or ``"max"``, one value per unit: the usual embedding of a convolutional layer)
    or kept whole (``"flatten"``, ``[N, H*W*C]``).

    >>> embedding_points(np.arange(8.0).reshape(2, 2, 2), spatial="max").tolist()
    [[2.0, 3.0], [6.0, 7.0]]
    """
    x = np.asarray(activations, dtype=np.float32)
    if spatial not in SPATIAL:
        raise ValueError(f"spatial must be one of {SPATIAL}, got {spatial!r}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"activations need an example axis and a unit axis, got shape {x.shape}")
    if x.ndim > 2:
        axes = tuple(range(1, x.ndim - 1))
        x = x.mean(axis=axes) if spatial == "mean" else x.max(axis=axes) if spatial == "max" else x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x).all(axis=1)))
        raise ValueError(f"{bad} of {len(x)} embedding points hold NaN or Inf; the Projector cannot place them")
    return x


def tensor_tsv(points):
    """The points as the Projector's tensor TSV (tab-separated, one row per point).

    >>> tensor_tsv(np.array([[1.0, 0.5], [2.0, -1.0]]))
    '1\\t0.5\\n2\\t-1\\n'
    """
    points = np.asarray(points, dtype=np.float32)
    lines = ["\t".join(f"{v:.7g}" for v in row) for row in points.tolist()]
    return "\n".join(lines) + "\n"


def metadata_tsv(labels=None, columns=None, count=None):
    """The metadata TSV: ``label`` when given, any extra ``columns``, and an ``index`` column.

    Tabs and newlines inside values become spaces (they would break the table).
    """
    table = {}
    n = count
    for name, values in ([("label", labels)] if labels is not None else []) + list((columns or {}).items()):
        values = [_cell(v) for v in np.asarray(values).reshape(len(values), -1).tolist()]
        if n is not None and len(values) != n:
            raise ValueError(f"metadata column {name!r} has {len(values)} rows for {n} points")
        n = len(values)
        table[_cell(name)] = values
    if n is None:
        raise ValueError("metadata needs labels, columns or a count")
    # The Projector labels points by the first column: the label when there is one.
    rows = ["\t".join([*table, "index"])]
    rows += ["\t".join([*(col[i] for col in table.values()), str(i)]) for i in range(n)]
    return "\n".join(rows) + "\n"


def _cell(value):
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else " ".join(map(str, value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split()) or "-"


def sprite_image(images, max_side=MAX_SPRITE_SIDE):
    """Thumbnails of ``images`` ``[N, H, W]`` or ``[N, H, W, 1|3|4]`` tiled into one RGB sprite.

    Returns ``(uint8 [S, S, 3], (thumb_w, thumb_h))``. Each image is scaled to its own min-max range;
    thumbnails shrink (area averaging) so that the ``ceil(sqrt(N))`` by ``ceil(sqrt(N))`` grid fits
    ``max_side``. Raises ValueError for inputs that are not images.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=-1)
    if x.ndim != 4 or x.shape[-1] not in (3, 4) or len(x) == 0:
        raise ValueError(f"sprite images must be [N, H, W] or [N, H, W, 1|3|4], got shape {np.shape(images)}")
    x = x[..., :3]
    n, h, w, _ = x.shape
    side = math.ceil(math.sqrt(n))
    factor = math.ceil(max(h, w) * side / max_side)
    if factor > 1:  # area-average factor x factor blocks
        h2, w2 = h // factor, w // factor
        if h2 < 1 or w2 < 1:
            raise ValueError(f"{n} images do not fit a {max_side}-pixel sprite; pass fewer points")
        x = x[:, :h2 * factor, :w2 * factor].reshape(n, h2, factor, w2, factor, 3).mean(axis=(2, 4))
        h, w = h2, w2
    finite = np.isfinite(x)
    x = np.where(finite, x, np.nan)
    lo = np.nanmin(x.reshape(n, -1), axis=1)[:, None, None, None]
    hi = np.nanmax(x.reshape(n, -1), axis=1)[:, None, None, None]
    span = np.where(hi > lo, hi - lo, 1.0)
    thumbs = np.nan_to_num(np.clip((x - np.nan_to_num(lo)) / span, 0, 1))
    sprite = np.zeros((side * h, side * w, 3), np.uint8)
    for i, thumb in enumerate(np.rint(thumbs * 255).astype(np.uint8)):
        r, c = divmod(i, side)
        sprite[r * h:(r + 1) * h, c * w:(c + 1) * w] = thumb
    return sprite, (w, h)


def subsample(count, max_points, seed=0):
    """Sorted indices of at most ``max_points`` of ``count`` examples (all of them when they fit).

    >>> subsample(5, 10).tolist(), len(subsample(100, 10))
    ([0, 1, 2, 3, 4], 10)
    """
    if max_points is None or count <= max_points:
        return np.arange(count)
    if max_points < 1:
        raise ValueError(f"max_points must be positive, got {max_points}")
    return np.sort(np.random.default_rng(seed).choice(count, size=max_points, replace=False))

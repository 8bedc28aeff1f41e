"""Finding the cells that follow a pattern in text, as LSTMVis (Strobelt et al. 2017) and the 2015 paper
by Karpathy, Johnson and Fei-Fei do.

All functions take the values of one trace kind of one layer, ``values [P, T, U]`` (P probe texts of
T steps, U cells), with ``lengths [P]`` saying how many steps of each probe are real (the rest is
padding and is never counted). A cell is *on* at a step when its value is above ``threshold``.

- :func:`rank_span` (LSTMVis's select view): cells that are on inside a span of one probe and off
  around it.
- :func:`match_spans` (LSTMVis's match view): the other places where chosen cells are on together.
- :func:`pattern_track` and :func:`rank_pattern`: a regular expression becomes a 0/1 track over the
  tokens; cells are ranked by how well they follow it (correlation, precision and recall).
- :func:`saturation`: how often each cell of a gate is left- (< 0.1) or right-saturated (> 0.9).

>>> v = np.zeros((1, 6, 2)); v[0, 2:4, 1] = 1.0          # cell 1 is on at steps 2 and 3
>>> [r["cell"] for r in rank_span(v, [6], probe=0, start=2, end=4, threshold=0.5)]
[1, 0]
>>> match_spans(v, [6], cells=[1], threshold=0.5)
[[0, 2, 4]]
"""
import re

import numpy as np

__all__ = ["token_text", "pattern_track", "rank_pattern", "rank_span", "match_spans", "saturation",
           "valid_mask"]


def valid_mask(lengths, steps):
    """``[P, T]`` bool: True where a step is real (``t < lengths[p]``)."""
    lengths = np.asarray(lengths, int)
    return np.arange(steps)[None, :] < lengths[:, None]


def _finite(values, valid):
    """float64 values with non-finite entries replaced by 0 and excluded from ``valid`` per cell."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    return np.where(finite, values, 0.0), valid[..., None] & finite


def token_text(tokens, joiner=None):
    """``(text, starts)``: the tokens of one probe joined into a text, and where each token starts.

    Characters are joined as they are; longer tokens (words) with a space, unless ``joiner`` says.

    >>> token_text(["a", "b", "\\n"])
    ('ab\\n', [0, 1, 2])
    >>> token_text(["if", "x"])
    ('if x', [0, 3])
    """
    tokens = [str(t) for t in tokens]
    if joiner is None:
        joiner = "" if all(len(t) <= 1 for t in tokens) else " "
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t) + len(joiner)
    return joiner.join(tokens), starts


def pattern_track(tokens, pattern, joiner=None):
    """A 0/1 float array per probe: 1 where a token overlaps a match of ``pattern`` in the probe's text.

    ``tokens`` is a list (per probe) of token lists. When the expression has a group, the first group's
    span counts instead of the whole match, so ``if (.*):`` marks what follows ``if``, and
    ``(?m)^.{40}(.*)`` marks the characters after column 40. Raises ValueError for a bad expression.

    >>> pattern_track([list('say "hi" now')], r'"[^"]*"')[0].astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    """
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"invalid regular expression {pattern!r}: {e}") from None
    tracks = []
    for probe in tokens:
        text, starts = token_text(probe, joiner)
        ends = np.array([s + max(1, len(str(t))) for s, t in zip(starts, probe)], int)
        starts = np.array(starts, int)
        track = np.zeros(len(probe), np.float64)
        for m in regex.finditer(text):
            lo, hi = m.span(1) if regex.groups and m.group(1) is not None else m.span()
            if hi > lo:
                track[(starts < hi) & (ends > lo)] = 1.0
        tracks.append(track)
    return tracks


def rank_pattern(values, lengths, tracks, threshold=0.5, top=None):
    """Cells ranked by how well they follow 0/1 ``tracks`` (one per probe, as from :func:`pattern_track`).

    For each cell: the Pearson correlation of its values with the track over all real steps, and, for
    the predictor "on" (above ``threshold``; for a negatively correlated cell, below ``-threshold``),
    precision and recall of the track. Sorted by absolute correlation, best first.

    >>> v = np.zeros((1, 4, 2)); v[0, :, 0] = [0, 1, 1, 0]; v[0, :, 1] = [1, 0, 0, 0]
    >>> r = rank_pattern(v, [4], [np.array([0, 1, 1, 0.])])
    >>> r[0]["cell"], round(r[0]["correlation"], 3), r[0]["precision"], r[0]["recall"]
    (0, 1.0, 1.0, 1.0)
    """
    values = np.asarray(values)
    p, t, u = values.shape
    valid = valid_mask(lengths, t)
    track = np.zeros((p, t))
    for i, tr in enumerate(tracks):
        n = min(len(tr), t)
        track[i, :n] = tr[:n]
    v, ok = _finite(values, valid)
    y = np.broadcast_to(track[..., None], ok.shape)
    n = ok.sum(axis=(0, 1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mv = np.where(ok, v, 0).sum(axis=(0, 1)) / n
        my = np.where(ok, y, 0).sum(axis=(0, 1)) / n
        dv, dy = np.where(ok, v - mv, 0), np.where(ok, y - my, 0)
        corr = (dv * dy).sum(axis=(0, 1)) / np.sqrt((dv ** 2).sum(axis=(0, 1)) * (dy ** 2).sum(axis=(0, 1)))
    corr = np.where(np.isfinite(corr), corr, 0.0)
    sign = np.where(corr < 0, -1.0, 1.0)
    on = ok & (v * sign > threshold)
    hit = (on & (y > 0)).sum(axis=(0, 1))
    n_on, n_track = on.sum(axis=(0, 1)), (ok & (y > 0)).sum(axis=(0, 1))
    precision = np.where(n_on > 0, hit / np.maximum(n_on, 1), 0.0)
    recall = np.where(n_track > 0, hit / np.maximum(n_track, 1), 0.0)
    order = np.argsort(-np.abs(corr), kind="stable")[:top]
    return [{"cell": int(c), "correlation": float(corr[c]), "precision": float(precision[c]),
             "recall": float(recall[c]), "sign": int(sign[c])} for c in order]


def rank_span(values, lengths, probe, start, end, threshold=0.5, context=None, top=None):
    """Cells that are on inside steps ``[start, end)`` of one probe and off around it (LSTMVis select).

    ``context`` steps on each side count as "around" (default: the span's length, at least 1 and at
    most 10). Score = fraction on inside + fraction off around - 1, so 1 is a perfect match; ties go to
    the larger gap between the mean inside and the mean around. Raises ValueError for an empty span.
    """
    values = np.asarray(values)
    p, t, u = values.shape
    length = int(np.asarray(lengths)[probe])
    start, end = max(0, int(start)), min(length, int(end))
    if not 0 <= probe < p or end <= start:
        raise ValueError(f"the span [{start}, {end}) of probe {probe} holds no step (probe length {length})")
    if context is None:
        context = min(10, max(1, end - start))
    row = np.asarray(values[probe, :length], np.float64)
    inside = row[start:end]
    around = np.concatenate([row[max(0, start - context):start], row[end:end + context]])
    with np.errstate(invalid="ignore"):
        on_in = np.nan_to_num(np.mean(inside > threshold, axis=0))
        off_out = np.mean(around <= threshold, axis=0) if len(around) else np.ones(u)
        gap = np.nan_to_num(np.nanmean(inside, axis=0) - (np.nanmean(around, axis=0) if len(around) else 0.0))
    score = on_in + off_out - 1.0
    order = np.lexsort((-gap, -score))[:top]
    return [{"cell": int(c), "score": float(score[c]), "on_inside": float(on_in[c]),
             "off_around": float(off_out[c]), "gap": float(gap[c])} for c in order]


def match_spans(values, lengths, cells, threshold=0.5, limit=500):
    """``[[probe, start, end], ...]``: the runs of steps where all ``cells`` are on together (LSTMVis match)."""
    values = np.asarray(values)
    cells = [int(c) for c in cells]
    if not cells:
        return []
    if min(cells) < 0 or max(cells) >= values.shape[2]:
        raise ValueError(f"cells must be in [0, {values.shape[2] - 1}], got {cells}")
    with np.errstate(invalid="ignore"):
        on = np.all(values[:, :, cells] > threshold, axis=2) & valid_mask(lengths, values.shape[1])
    spans = []
    for probe, row in enumerate(on):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        spans.extend([probe, int(a), int(b)] for a, b in zip(edges[::2], edges[1::2]))
    return spans[:limit]


def saturation(values, lengths, low=0.1, high=0.9):
    """``(left [U], right [U])``: per cell, the fraction of real steps with a gate value below ``low``
    and above ``high`` (the 2015 paper's saturation scatter).

    >>> left, right = saturation(np.array([[[0.05], [0.5], [0.95], [0.99]]]), [4])
    >>> left.tolist(), right.tolist()
    ([0.25], [0.5])
    """
    values = np.asarray(values)
    v, ok = _finite(values, valid_mask(lengths, values.shape[1]))
    n = np.maximum(ok.sum(axis=(0, 1)), 1)
    return (ok & (v < low)).sum(axis=(0, 1)) / n, (ok & (v > high)).sum(axis=(0, 1)) / n

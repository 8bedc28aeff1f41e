"""The byte budget of one written step, shared by the callbacks: the largest cut that fits, and the warning.

Each callback estimates what a written step costs from shapes it knows at the start of training (before
anything is computed), so a run that would fill a disk says so at once instead of after a night of
training. When the estimate is over ``max_bytes_per_step`` the callback cuts what it writes (units, cells,
targets) to the largest amount that fits, and warns once with the sizes and what to change. Needs no
TensorFlow.

>>> largest_within(lambda n: 100 * n, most=64, budget=1_000)
10
>>> largest_within(lambda n: 100 * n, most=8, budget=1_000) is None   # everything fits: nothing to cut
True
"""
import logging

logger = logging.getLogger("tb_nnvis")


def largest_within(cost, most, budget):
    """The largest ``n`` in ``1..most`` with ``cost(n) <= budget`` (``cost`` growing with ``n``); None when
    ``cost(most)`` fits, 1 when not even ``cost(1)`` does (the least a callback can write)."""
    most = int(most)
    if cost(most) <= budget:
        return None
    lo, hi = 1, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def warn_over(what, model, estimated, budget, detail, did, after, how):
    """Say once, at the start of training, that ``what`` would write ``estimated`` bytes per step, over
    ``budget``, what the callback does instead (``did``, which writes ``after`` bytes) and ``how`` to write
    more.

    >>> import logging, sys
    >>> logger.addHandler(handler := logging.StreamHandler(sys.stdout))
    >>> warn_over("the default layers", "net", 8e6, 5_000_000, "2 layers", "writing the first 9 units", 4.1e6,
    ...           "pass fewer probes")   # doctest: +NORMALIZE_WHITESPACE
    tb_nnvis: the default layers of model 'net' would write about 8.0 MB per step (2 layers), over
    max_bytes_per_step=5000000 (5.0 MB): writing the first 9 units, about 4.1 MB per step. To write more,
    pass fewer probes, or max_bytes_per_step=None.
    >>> logger.removeHandler(handler)
    """
    logger.warning(
        "tb_nnvis: %s of model %r would write about %s per step (%s), over max_bytes_per_step=%d (%s): %s, "
        "about %s per step. To write more, %s, or max_bytes_per_step=None.",
        what, model, size_text(estimated), detail, budget, size_text(budget), did, size_text(after), how)


def names(items, most=5):
    """The first ``most`` names, and `` ...`` when there are more.

    >>> names(["a", "b", "c"], most=2)
    'a, b ...'
    """
    items = list(items)
    return ", ".join(items[:most]) + (" ..." if len(items) > most else "")


def size_text(n):
    """``n`` bytes as text for messages.

    >>> size_text(4_200_000), size_text(40_000), size_text(512)
    ('4.2 MB', '40 kB', '512 bytes')
    """
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n:.0f} bytes"

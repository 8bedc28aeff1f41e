"""How many bytes a written step of activations costs, and how many units fit a budget.

A layer's maps cost about :data:`BYTES_PER_VALUE` bytes per value once quantised to 8 bits and written
as PNG (measured on MobileNetV2 and ResNet50 block outputs: 1.4-1.8; the estimate is kept on the high
side so that a budget holds), plus the ranges and statistics of each unit. Needs no TensorFlow.

>>> shapes = {"conv": (8, 32, 32, 64), "dense": (8, 1000)}
>>> round(step_bytes(shapes) / 1e6, 2)
1.22
>>> units_within(shapes, 500_000)
29
"""
import math

BYTES_PER_VALUE = 2.0
_BYTES_PER_UNIT_AND_PROBE = 12  # lo, hi and the non-finite count, float32
_BYTES_PER_UNIT = 24  # six statistics, float32, in the maps and again as a tensor


def layer_bytes(shape, units=None):
    """Estimated bytes of one layer's summary for activations of ``shape`` ``[P, ..., C]``, writing at most
    ``units`` units (None: all)."""
    p, c = int(shape[0]), int(shape[-1])
    c = c if units is None else min(c, int(units))
    per_map = math.prod(int(s) for s in shape[1:-1])
    return p * per_map * c * BYTES_PER_VALUE + c * (p * _BYTES_PER_UNIT_AND_PROBE + 2 * _BYTES_PER_UNIT)


def step_bytes(shapes, units=None):
    """Estimated bytes of one written step: ``shapes`` is ``{layer: [P, ..., C]}``."""
    return sum(layer_bytes(s, units) for s in shapes.values())


def units_within(shapes, budget):
    """The largest number of units per layer (the first ones) whose step fits ``budget`` bytes; None when
    every unit fits, 1 when not even one unit per layer does."""
    widest = max(int(s[-1]) for s in shapes.values())
    if step_bytes(shapes) <= budget:
        return None
    lo, hi = 1, widest  # step_bytes(units=lo) is the best we can do; find the largest that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if step_bytes(shapes, mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def size_text(n):
    """``n`` bytes as text for messages.

    >>> size_text(4_200_000), size_text(40_000), size_text(512)
    ('4.2 MB', '40 kB', '512 bytes')
    """
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n:.0f} bytes"

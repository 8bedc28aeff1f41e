"""How many bytes a written step of activations costs, and how many units fit a budget.

A layer's maps cost at most about :data:`BYTES_PER_VALUE` bytes per value once quantised to 8 bits and
written as a grey PNG (pure noise: 1.0; smooth maps compress below that; a probe with NaN or Inf is
written in RGB, up to twice as much, which the estimate does not plan for), plus each probe's frame header
and the ranges and statistics of each unit. Needs no TensorFlow.

>>> shapes = {"conv": (8, 32, 32, 64), "dense": (8, 1000)}
>>> round(step_bytes(shapes) / 1e6, 2)
0.77
>>> units_within(shapes, 500_000)
48
"""
import math

from tb_nnvis.plugins._budget import largest_within, size_text  # noqa: F401 - size_text for callers

BYTES_PER_VALUE = 1.2
_BYTES_PER_UNIT_AND_PROBE = 12  # lo, hi and the non-finite count, float32
_BYTES_PER_UNIT = 24  # six statistics, float32, as a tensor
_BYTES_PER_PROBE = 400  # a frame's header (JSON) and the PNG's chunks


def layer_bytes(shape, units=None):
    """Estimated bytes of one layer's summary for activations of ``shape`` ``[P, ..., C]``, writing at most
    ``units`` units (None: all)."""
    p, c = int(shape[0]), int(shape[-1])
    c = c if units is None else min(c, int(units))
    per_map = math.prod(int(s) for s in shape[1:-1])
    return p * (per_map * c * BYTES_PER_VALUE + _BYTES_PER_PROBE) + c * (p * _BYTES_PER_UNIT_AND_PROBE + _BYTES_PER_UNIT)


def step_bytes(shapes, units=None):
    """Estimated bytes of one written step: ``shapes`` is ``{layer: [P, ..., C]}``."""
    return sum(layer_bytes(s, units) for s in shapes.values())


def units_within(shapes, budget):
    """The largest number of units per layer (the first ones) whose step fits ``budget`` bytes; None when
    every unit fits, 1 when not even one unit per layer does."""
    widest = max(int(s[-1]) for s in shapes.values())
    return largest_within(lambda units: step_bytes(shapes, units), widest, budget)

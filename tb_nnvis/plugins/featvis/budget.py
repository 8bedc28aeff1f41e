"""What a written step of :class:`~tb_nnvis.plugins.featvis.callback.FeatureVisCallback` costs, in bytes.

Estimated from shapes alone, before the first render (see :mod:`tb_nnvis.plugins._budget`), from what
:mod:`tb_nnvis.plugins.featvis.encoding` stores per layer: an 8-bit RGB atlas of one image per unit
(counted at its raw size: rendered images are textured, and PNG gains little on them), the transparency
atlas (one byte per pixel), each unit's value, index and origin. Needs no TensorFlow.

>>> round(step_bytes({"conv": 576}, (96, 96), transparency=True) / 1e6, 2)
21.35
>>> units_within({"conv": 576}, (96, 96), True, budget=5_000_000)
134
"""
from tb_nnvis.plugins._budget import largest_within

_HEADER = 300  # the JSON header's fixed fields


def images_bytes(count, size, transparency):
    """Bytes of ``count`` images of ``size`` ``(H, W)`` in one atlas (a PNG filter byte per row, the
    transparency atlas when written, a value, unit and origin per image)."""
    h, w = size
    return _HEADER + count * (h * w * (3 + bool(transparency)) + 2 * h + 16)


def step_bytes(layers, size, transparency, diversity=0, diversity_units=8, units=None):
    """Bytes of one written step: ``layers`` is ``{path: units}``; each layer writes at most ``units`` units
    (None: all), and ``diversity`` images for each of its first ``diversity_units`` units."""
    total = 0
    for count in layers.values():
        count = count if units is None else min(count, int(units))
        total += images_bytes(count, size, transparency)
        if diversity:
            total += images_bytes(diversity * min(count, diversity_units), size, transparency)
    return total


def units_within(layers, size, transparency, budget, diversity=0, diversity_units=8):
    """The most units per layer (the first ones) whose step fits ``budget``; None when all fit."""
    return largest_within(lambda u: step_bytes(layers, size, transparency, diversity, diversity_units, u),
                          max(layers.values()), budget)

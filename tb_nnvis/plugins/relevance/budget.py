"""What a written step of :class:`~tb_nnvis.plugins.relevance.callback.RelevanceCallback` costs, in bytes.

Estimated from shapes alone, before training (see :mod:`tb_nnvis.plugins._budget`), from what
:mod:`tb_nnvis.plugins.relevance.encoding` stores: per composite, the relevance of each probe and target as
float32 (image colour channels summed), the probe images as PNG (counted at their raw size, which PNG rarely
beats on photos or noise), the scores and the header; per unit layer, one float32 per probe, target and
unit; per unit heatmap, one float16 per probe, unit and position. Needs no TensorFlow.

>>> step = Step(probes=8, targets=3, positions=(96, 96), classes=1000, image_channels=3)
>>> round(step.bytes() / 1e6, 2)
1.14
>>> round(step.bytes(heatmaps={"conv": 64}, methods=1) / 1e6, 2)
10.58
"""
import json
import math
from typing import NamedTuple

_HEADER = 400  # the JSON header's fixed fields


class Step(NamedTuple):
    """The shapes a step's size depends on.

    ``positions``: ``(H, W)`` of an image or ``(L,)`` token positions; ``image_channels``: the probe images'
    channels (0 for text); ``names``: the class names and tokens the header repeats at every step.
    """
    probes: int
    targets: int
    positions: tuple
    classes: int
    image_channels: int = 0
    composites: int = 1
    unit_layers: tuple = ()
    names: int = 0

    def main(self, targets=None):
        """Bytes of one composite's relevance blobs (header, scores, sums, relevance, probe images)."""
        p, t, area = self.probes, self.targets if targets is None else targets, math.prod(self.positions)
        # PNG adds a filter byte per row and its chunks to the raw pixels when it cannot compress them
        images = p * (area * min(self.image_channels, 3) + self.positions[0] + 100) if self.image_channels else 0
        return _HEADER + self.names + 4 * p * (self.classes + t + t * area) + images

    def bytes(self, targets=None, heatmaps=None, methods=1):
        """Bytes of a written step; ``heatmaps`` is ``{layer: units}`` written by each of ``methods``."""
        t = self.targets if targets is None else targets
        units = sum(4 * self.probes * t * (1 + c) + _HEADER for c in self.unit_layers)
        return self.composites * (self.main(t) + units) + methods * sum(
            heatmap_bytes(self.probes, u, self.positions) for u in (heatmaps or {}).values())


def heatmap_bytes(probes, units, positions):
    """Bytes of one layer's unit heatmaps: float16 per probe, unit and position, a float32 scale each."""
    return _HEADER + 6 * units + probes * units * (2 * math.prod(positions) + 4)


def names_bytes(class_names=None, tokens=None):
    """Bytes the header spends on class names and tokens (written again at every step).

    >>> names_bytes(["cat", "dog"], [["a", "b"]])
    26
    """
    return len(json.dumps(class_names or [])) + len(json.dumps(tokens or []))

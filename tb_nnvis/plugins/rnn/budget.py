"""What a written step of :class:`~tb_nnvis.plugins.rnn.callback.RNNCellsCallback` costs, in bytes.

Estimated from shapes alone, before training (see :mod:`tb_nnvis.plugins._budget`), from what
:mod:`tb_nnvis.plugins.rnn.encoding` stores per traced layer: one byte per kind, probe, step and cell
(counted before zlib, which gains little on cells that are not saturated), each kind and cell's range,
and a header that repeats the tokens; plus the top-k next-token guesses (int32 id and float16 probability
per probe, position and guess) with the vocabulary. Needs no TensorFlow.

>>> layers = {"lstm": Layer(kinds=6, cells=512)}
>>> round(step_bytes(layers, probes=8, steps=500, header=4_000) / 1e6, 2)
12.32
>>> units_within(layers, 8, 500, 4_000, budget=5_000_000)
207
"""
import json
from typing import NamedTuple

from tb_nnvis.plugins._budget import largest_within

_HEADER = 300  # the JSON header's fixed fields


class Layer(NamedTuple):
    """A traced layer (one direction of a ``Bidirectional``): how many kinds it stores, and its cells."""
    kinds: int
    cells: int


def layer_bytes(layer, probes, steps, header, cells=None):
    """Bytes of one layer's traces at one step, writing at most ``cells`` cells (None: all)."""
    c = layer.cells if cells is None else min(layer.cells, int(cells))
    return _HEADER + header + layer.kinds * c * (8 + probes * steps)


def predictions_bytes(probes, steps, k, vocabulary):
    """Bytes of the top-``k`` next-token guesses at every position, with the vocabulary in the header."""
    return _HEADER + len(json.dumps(list(vocabulary))) + 6 * probes * steps * k if k else 0


def step_bytes(layers, probes, steps, header, cells=None, predictions=0):
    """Bytes of one written step: ``layers`` is ``{path: Layer}``, ``header`` the tokens' JSON size."""
    return predictions + sum(layer_bytes(layer, probes, steps, header, cells) for layer in layers.values())


def units_within(layers, probes, steps, header, budget, predictions=0):
    """The most cells per layer (the first ones) whose step fits ``budget``; None when all fit."""
    widest = max(layer.cells for layer in layers.values())
    return largest_within(lambda c: step_bytes(layers, probes, steps, header, c, predictions), widest, budget)

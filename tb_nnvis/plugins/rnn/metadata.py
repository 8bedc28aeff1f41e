"""What the RNN cells plugin stores in event files, and how to read it back.

Two kinds of series, both string tensors (``DATA_CLASS_TENSOR``: TensorBoard keeps ten times more tensor
steps than blob steps), told apart by ``kind`` in the plugin content (JSON):

- ``traces`` (tag = the layer's path, e.g. ``"lstm"`` or ``"bi/forward"``): ``[header JSON, ranges,
  values]`` for all probe texts at one step. ``header`` holds the tokens of each probe, the real
  length of each, the trace kinds (``hidden``, ``cell``, gates) and the shape; ``ranges`` is float32
  ``[K, U, 2]`` little-endian, each cell's (lo, hi) per kind; ``values`` is zlib-compressed uint8
  ``[K, P, T, U]``: ``lo + q * (hi - lo) / 254`` for q < 255, non-finite for 255 (see :mod:`.encoding`).
- ``predictions`` (tag ``PREDICTIONS_TAG``): ``[header JSON, ids, probabilities]``: for next-token
  models, the top-k next tokens at each position (int32 and float16 ``[P, T, k]``), with the vocabulary
  in the header.
"""
from tensorboard.compat.proto import summary_pb2

from tb_nnvis.plugins import _metadata

PLUGIN_NAME = "nnvis_rnn"
VERSION = 1

TRACES, PREDICTIONS = "traces", "predictions"
KINDS = (TRACES, PREDICTIONS)
PREDICTIONS_TAG = "_predictions"
# Positions of the blobs in a series.
HEADER, RANGES, VALUES = 0, 1, 2
IDS, PROBS = 1, 2


def create_summary_metadata(kind, layer, *, cell=None, units=None, traces=None, description=""):
    """A ``SummaryMetadata`` for one of our series.

    >>> md = create_summary_metadata(TRACES, "lstm", cell="lstm", units=8, traces=["hidden"])
    >>> parse_plugin_metadata(md.plugin_data.content)["units"]
    8
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    content = {"version": VERSION, "kind": kind, "layer": layer}
    if cell is not None:
        content.update(cell=cell, units=int(units), traces=list(traces))
    return _metadata.summary_metadata(PLUGIN_NAME, content, summary_pb2.DATA_CLASS_TENSOR, layer, description)


def parse_plugin_metadata(content):
    """The plugin content as a dict; raises ValueError for data we cannot read (e.g. a newer version)."""
    return _metadata.parse_content(content, PLUGIN_NAME, KINDS, VERSION)

"""What the Relevance plugin stores in event files, and how to read it back.

Every series names its probe set (``name``) and, where it applies, the LRP composite and the layer; the
``kind`` in the plugin content (JSON) tells them apart, so other views (e.g. SpRAy) can add kinds:

- ``image`` and ``text`` (blob sequence, tag ``<name>/<composite>``):
  ``[header JSON, scores, sums, relevance, (PNG of each input for images)]``.
  ``header``: probes P, classes K, targets per probe ``[P][T]`` (the classes relevance was computed
  for; the first is the predicted one), true labels or None, class names or None, the composite, the
  relevance shape and, for text, the tokens of each probe. ``scores``: float32 ``[P, K]`` logits (where LRP
  starts); ``sums``: float32 ``[P, T]`` total relevance per target (against its logit: how much the rule
  conserved); ``relevance``: float32 ``[P, T, H, W]`` (images, summed over colour channels) or
  ``[P, T, L]`` (text, per token, L the longest document; NaN beyond a document's end).
- ``units`` (tensor, tag ``<name>/<composite>/_units/<layer>``): float32 ``[P, T, 1 + C]``: the target
  class, then the relevance of each of the layer's C units (summed over positions). Self-describing, since
  TensorBoard may keep other steps of tensors than of blob sequences.
- ``unit_heatmaps`` (blob sequence, tag ``<name>/<composite>/_unit_heatmaps/<layer>``):
  ``[header JSON, scales, heatmaps]``: for each probe and logged unit, the input-space relevance of LRP
  started at that unit's activation; ``heatmaps`` is float16 ``[P, U, H, W]`` divided by ``scales``
  (float32 ``[P, U]``, the largest magnitude), so float16 keeps three digits at any magnitude.
"""
import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "nnvis_relevance"
VERSION = 1

IMAGE, TEXT, UNITS, UNIT_HEATMAPS = "image", "text", "units", "unit_heatmaps"
SPRAY = "spray"  # SpRAy of one class (blob sequence): see spray_encoding.py
KINDS = (IMAGE, TEXT, UNITS, UNIT_HEATMAPS, SPRAY)
MAIN_KINDS = (IMAGE, TEXT)
TENSOR_KINDS = (UNITS,)
UNITS_INFIX = "/_units/"
HEATMAPS_INFIX = "/_unit_heatmaps/"
# Positions of the blobs in an ``image``/``text`` sequence, and in a ``unit_heatmaps`` one.
HEADER, SCORES, SUMS, RELEVANCE, FIRST_PNG = 0, 1, 2, 3, 4
HM_SCALES, HM_VALUES = 1, 2


def create_summary_metadata(kind, name, composite, *, layer=None, shape=None, description=""):
    """A ``SummaryMetadata`` for one of our series; ``data_class`` is always set, or TensorBoard drops it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    content = {"version": VERSION, "kind": kind, "name": name, "composite": composite}
    if layer is not None:
        content["layer"] = layer
    if shape is not None:
        content["shape"] = [int(s) for s in shape]
    data_class = (summary_pb2.DATA_CLASS_TENSOR if kind in TENSOR_KINDS
                  else summary_pb2.DATA_CLASS_BLOB_SEQUENCE)
    return summary_pb2.SummaryMetadata(
        display_name=name, summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content).encode("utf-8")),
        data_class=data_class)


def tag_for(kind, name, composite, layer=None):
    """The tag of a series: ``name/composite`` for the maps, with the layer for unit series."""
    base = f"{name}/{composite}"
    if kind == UNITS:
        return base + UNITS_INFIX + layer
    if kind == UNIT_HEATMAPS:
        return base + HEATMAPS_INFIX + layer
    return base


def parse_plugin_metadata(content):
    """The plugin content as a dict; raises ValueError for data we cannot read (e.g. a newer version)."""
    try:
        parsed = json.loads(bytes(content).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable {PLUGIN_NAME} metadata: {e}") from None
    if not isinstance(parsed, dict) or parsed.get("kind") not in KINDS or not isinstance(parsed.get("name"), str):
        raise ValueError(f"unknown {PLUGIN_NAME} metadata: {parsed!r}")
    if int(parsed.get("version", 0)) > VERSION:
        raise ValueError(f"{PLUGIN_NAME} data of version {parsed['version']} needs a newer tb_nnvis")
    return parsed

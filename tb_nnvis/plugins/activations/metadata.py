"""What the Activations plugin stores in event files, and how to read it back.

Each tapped layer gives two time series, told apart by ``kind`` in the plugin content (JSON):

- ``maps`` (blob sequence, tag = the layer's path): one frame per probe (format 2, :func:`.encoding.encode_frame`):
  a header (the canonical shape ``[P, H, W, C]``, the layout, the atlas grid, the probe, ``channels``),
  the probe's ranges, float32 ``[C, 3]`` (lo, hi, count of non-finite values), and its atlas PNG
  (:mod:`tb_nnvis.core.images`; grey, ``channels`` 1, when the probe has no NaN or Inf). A filmstrip or a
  grid reads one blob per step. Format 1 (``VERSION`` 1, still read) was ``[header JSON, ranges
  [P, C, 3], stats, PNG of probe 0, ...]`` with RGB PNGs.
- ``unit_stats`` (tensor, tag = path + ``STATS_SUFFIX``): float32 ``[C, len(STAT_FIELDS)]``, per unit
  over all probes, kept as a tensor (not in the blobs) because TensorBoard keeps ten times more tensor
  steps than blob steps, so that the units-over-training view is dense and cheap.

- ``top_examples`` (tensor, tag = path + ``TOP_SUFFIX``): float64 ``[C, k, 3]``, for each unit the k
  dataset examples with the highest maximum response: (value, dataset index, flat position of the
  maximum in the unit's map); index -1 where fewer than k examples exist.

- ``weights`` (blob sequence, tag = path + ``WEIGHTS_SUFFIX``): ``[header JSON, float32 kernels]``, each
  unit's incoming weights, units first (:func:`tb_nnvis.core.weights.unit_kernels`).
- ``weight_norms`` (tensor, tag = path + ``NORMS_SUFFIX``): float32 ``[C]``, each unit's weight norm.
- ``update_ratio`` (tensor, tag = path + ``RATIO_SUFFIX``): float32 scalar, the layer's
  ``||W_after - W_before|| / ||W_before||`` across the optimizer step that led to this step.
- ``receptive_field`` (tensor, tag = path + ``FIELD_SUFFIX``): a JSON string,
  :meth:`tb_nnvis.core.receptive_field.Field.to_json`, so top examples can be shown as crops.

Probe inputs are one ``probe_inputs`` blob sequence per run: ``[header JSON, PNG per probe]``; the
images of the dataset that top examples index into are one ``dataset_examples`` sequence of the same form.
"""
import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "nnvis_activations"
VERSION = 2  # 2: one frame blob per probe in a maps step, statistics only as a tensor

MAPS, UNIT_STATS, PROBE_INPUTS = "maps", "unit_stats", "probe_inputs"
TOP_EXAMPLES, DATASET_EXAMPLES = "top_examples", "dataset_examples"
# Parameters beside activity (see tb_nnvis/plugins/activations/weights.py).
WEIGHTS, WEIGHT_NORMS, UPDATE_RATIO, RECEPTIVE_FIELD = "weights", "weight_norms", "update_ratio", "receptive_field"
KINDS = (MAPS, UNIT_STATS, PROBE_INPUTS, TOP_EXAMPLES, DATASET_EXAMPLES, WEIGHTS, WEIGHT_NORMS, UPDATE_RATIO,
         RECEPTIVE_FIELD)
TENSOR_KINDS = (UNIT_STATS, TOP_EXAMPLES, WEIGHT_NORMS, UPDATE_RATIO, RECEPTIVE_FIELD)
STATS_SUFFIX = "/_unit_stats"
TOP_SUFFIX = "/_top_examples"
WEIGHTS_SUFFIX, NORMS_SUFFIX, RATIO_SUFFIX = "/_weights", "/_weight_norms", "/_update_ratio"
FIELD_SUFFIX = "/_receptive_field"
PROBE_TAG = "_probe_inputs"
EXAMPLES_TAG = "_dataset_examples"
TOP_FIELDS = ("value", "index", "position")
STAT_FIELDS = ("mean", "std", "min", "max", "frac_active", "nonfinite")
# Positions of the blobs in a format-1 ``maps`` blob sequence.
HEADER, RANGES, STATS, FIRST_PNG = 0, 1, 2, 3


def create_summary_metadata(kind, layer, *, layout=None, shape=None, description=""):
    """A ``SummaryMetadata`` for one of our series; ``data_class`` is always set, or TensorBoard drops it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    content = {"version": VERSION, "kind": kind, "layer": layer}
    if layout is not None:
        content["layout"] = layout
    if shape is not None:
        content["shape"] = [int(s) for s in shape]
    data_class = (summary_pb2.DATA_CLASS_TENSOR if kind in TENSOR_KINDS
                  else summary_pb2.DATA_CLASS_BLOB_SEQUENCE)
    return summary_pb2.SummaryMetadata(
        display_name=layer,
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content).encode("utf-8")),
        data_class=data_class,
    )


def parse_plugin_metadata(content):
    """The plugin content as a dict; raises ValueError for data we cannot read (e.g. a newer version)."""
    try:
        parsed = json.loads(bytes(content).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable {PLUGIN_NAME} metadata: {e}") from None
    if not isinstance(parsed, dict) or parsed.get("kind") not in KINDS:
        raise ValueError(f"unknown {PLUGIN_NAME} metadata: {parsed!r}")
    if int(parsed.get("version", 0)) > VERSION:
        raise ValueError(f"{PLUGIN_NAME} data of version {parsed['version']} needs a newer tb_nnvis")
    return parsed

"""Plugin content every tb_nnvis series shares: versioned JSON in ``SummaryMetadata.plugin_data``.

Light on purpose (no TensorFlow): summaries and plugins of every tab import it.

>>> from tensorboard.compat.proto import summary_pb2
>>> md = summary_metadata("nnvis_x", {"version": 1, "kind": "a", "layer": "l"}, summary_pb2.DATA_CLASS_TENSOR)
>>> parse_content(md.plugin_data.content, "nnvis_x", kinds=("a",), version=1)["layer"]
'l'
"""
import json

from tensorboard.compat.proto import summary_pb2


def summary_metadata(plugin_name, content, data_class, display_name=None, description=""):
    """A ``SummaryMetadata`` with ``content`` as JSON; ``data_class`` is required, or TensorBoard drops the data."""
    return summary_pb2.SummaryMetadata(
        display_name=display_name if display_name is not None else str(content.get("layer", "")),
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=plugin_name, content=json.dumps(content).encode("utf-8")),
        data_class=data_class,
    )


def parse_content(content, plugin_name, kinds, version):
    """The plugin content as a dict; ValueError for data we cannot read (unknown kind, newer version)."""
    try:
        parsed = json.loads(bytes(content).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable {plugin_name} metadata: {e}") from None
    if not isinstance(parsed, dict) or parsed.get("kind") not in kinds:
        raise ValueError(f"unknown {plugin_name} metadata: {parsed!r}")
    try:
        newer = int(parsed.get("version", 0)) > version
    except (TypeError, ValueError):
        raise ValueError(f"unknown {plugin_name} metadata version: {parsed.get('version')!r}") from None
    if newer:
        raise ValueError(f"{plugin_name} data of version {parsed['version']} needs a newer tb_nnvis")
    return parsed

"""What the Feature visualization plugin stores in event files, and how to read it back.

One blob sequence per layer and kind (``DATA_CLASS_BLOB_SEQUENCE``), told apart by ``kind`` in the plugin
content (JSON):

- ``images`` (tag = the layer's path + ``IMAGES_SUFFIX``, so that it never clashes with another tab's
  series of the same layer in the same run): at each written step, one synthesized image per unit.
- ``diversity`` (tag = path + ``DIVERSITY_SUFFIX``): several images per unit, made to differ.

Both hold ``[header JSON, values, images atlas PNG, transparency atlas PNG or b""]``: ``header`` has the
units (one per image, repeated for diversity), ``origin`` (the unit whose optimisation found each
image), the image shape, the atlas grid, the value range and the objective; ``values`` is float32
``[B]`` little-endian (the objective each image reaches); the images atlas is RGB, one tile per image,
row-major; the transparency atlas is grey (MACO's transparency, 0-255), same tiling.
"""
from tensorboard.compat.proto import summary_pb2

from tb_nnvis.plugins import _metadata

PLUGIN_NAME = "nnvis_featvis"
VERSION = 1

IMAGES, DIVERSITY = "images", "diversity"
KINDS = (IMAGES, DIVERSITY)
IMAGES_SUFFIX = "/_featvis"
DIVERSITY_SUFFIX = "/_featvis_diversity"
# Positions of the blobs in a series.
HEADER, VALUES, ATLAS, TRANSPARENCY = 0, 1, 2, 3


def create_summary_metadata(kind, layer, *, shape=None, description=""):
    """A ``SummaryMetadata`` for one of our series.

    >>> md = create_summary_metadata(IMAGES, "conv2", shape=[32, 64, 64, 3])
    >>> parse_plugin_metadata(md.plugin_data.content)["shape"]
    [32, 64, 64, 3]
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    content = {"version": VERSION, "kind": kind, "layer": layer}
    if shape is not None:
        content["shape"] = [int(s) for s in shape]
    return _metadata.summary_metadata(PLUGIN_NAME, content, summary_pb2.DATA_CLASS_BLOB_SEQUENCE, layer,
                                      description)


def parse_plugin_metadata(content):
    """The plugin content as a dict; raises ValueError for data we cannot read (e.g. a newer version)."""
    return _metadata.parse_content(content, PLUGIN_NAME, KINDS, VERSION)

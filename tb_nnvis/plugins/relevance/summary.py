"""Write LRP relevance for the Relevance dashboard, like ``tf.summary.image`` writes images.

:func:`relevance_image` and :func:`relevance_text` write a probe set's heatmaps (one or more targets per
probe), :func:`relevance_units` a layer's relevance per unit, :func:`relevance_unit_heatmaps` the input
heatmaps of single units. Each has a numpy ``*_pb`` twin that returns a ``Summary`` proto for any event
writer and needs no TensorFlow. The TensorFlow writers run eagerly (call them outside ``tf.function``).
"""
import numpy as np

from tb_nnvis.plugins.relevance import encoding, metadata

DEFAULT_COMPOSITE = "lrp"


def relevance_image(name, inputs, relevance, scores, target, class_names=None, composite=None, step=None,
                    labels=None, description=None):
    """Write image heatmaps for a set of probe inputs.

    Args:
      name: the probe set's name (``"probes"``); with the composite it makes the tag.
      inputs: images ``[P, H, W]`` or ``[P, H, W, C]`` (C = 1, 3 or 4).
      relevance: ``[P, T, H, W(, C)]``, relevance for T targets per probe (or ``[P, H, W(, C)]`` for one);
        colour channels are summed.
      scores: the logits ``[P, K]`` (where LRP starts).
      target: the class of each relevance map, ``[P]`` or ``[P, T]``; the first per probe is shown first.
      class_names: optional K names; composite: the LRP composite's name, shown on the dashboard.
      step: the training step (default ``tf.summary.experimental.get_step()``).
      labels: optional true class per probe ``[P]``, so the dashboard can show the true class's map.

    Returns:
      True if written, False if no default writer is set or recording is off.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.relevance_image("probes", np.random.rand(2, 8, 8, 3), np.random.randn(2, 8, 8, 3),
    ...                                  np.random.randn(2, 5), target=[0, 4], step=0)
    >>> bool(ok)
    True
    """
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_image(inputs, relevance, scores, target, labels, class_names, comp)
    md = metadata.create_summary_metadata(metadata.IMAGE, name, comp, shape=np.shape(inputs),
                                          description=description or "")
    return _write(metadata.tag_for(metadata.IMAGE, name, comp), blobs, md, step)


def relevance_text(name, tokens, relevance, scores, target, class_names=None, composite=None, step=None,
                   labels=None, description=None):
    """Write per-token relevance for a set of probe documents.

    Args:
      tokens: one list of strings (words, sub-words or characters) per document.
      relevance: ``[P, T, L]`` (or ``[P, L]`` for one target per probe), L at least the longest document.
      The other arguments are those of :func:`relevance_image`.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.relevance_text("reviews", [["a", "fine", "film"], ["dull"]], np.random.randn(2, 3),
    ...                                 np.random.randn(2, 2), target=[1, 0], class_names=["neg", "pos"], step=0)
    >>> bool(ok)
    True
    """
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_text(tokens, relevance, scores, target, labels, class_names, comp)
    md = metadata.create_summary_metadata(metadata.TEXT, name, comp, shape=[len(tokens)],
                                          description=description or "")
    return _write(metadata.tag_for(metadata.TEXT, name, comp), blobs, md, step)


def relevance_units(name, layer, relevance, target, composite=None, step=None):
    """Write the relevance of each unit of ``layer`` (summed over positions) for the probe set ``name``.

    ``relevance``: the layer's relevance ``[P, T, ..., units]`` with ``target`` ``[P, T]`` (or without the T
    axis), e.g. from :func:`tb_nnvis.lrp.attribute_layers`.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.relevance_units("probes", "conv3", np.random.randn(2, 4, 4, 8), target=[0, 1], step=0)
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    comp = composite or DEFAULT_COMPOSITE
    if not _recording():
        return False
    values = encoding.encode_units(relevance, target)
    md = metadata.create_summary_metadata(metadata.UNITS, name, comp, layer=layer, shape=values.shape)
    return tf.summary.write(metadata.tag_for(metadata.UNITS, name, comp, layer), tf.constant(values), step=step,
                            metadata=md)


def relevance_unit_heatmaps(name, layer, units, heatmaps, composite=None, step=None):
    """Write, for each probe and unit of ``layer``, the input heatmap of LRP started at that unit.

    ``heatmaps``: ``[P, U, H, W(, C)]`` or ``[P, U, L]`` for the U ``units``, e.g. from
    :func:`tb_nnvis.lrp.unit_heatmaps`.
    """
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_unit_heatmaps(units, heatmaps)
    md = metadata.create_summary_metadata(metadata.UNIT_HEATMAPS, name, comp, layer=layer)
    return _write(metadata.tag_for(metadata.UNIT_HEATMAPS, name, comp, layer), blobs, md, step)


def _write(tag, blobs, md, step):
    import tensorflow as tf

    if not _recording():
        return False
    return tf.summary.write(tag, tf.constant(blobs, dtype=tf.string), step=step, metadata=md)


def _recording():
    import tensorflow as tf

    if not tf.executing_eagerly():
        raise RuntimeError("tb_nnvis relevance summaries run eagerly: call them outside tf.function")
    return bool(tf.summary.should_record_summaries())


def _proto(tag, md, value):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    summary = summary_pb2.Summary()
    summary.value.add(tag=tag, metadata=md, tensor=tensor_util.make_tensor_proto(value))
    return summary


def relevance_image_pb(name, inputs, relevance, scores, target, class_names=None, composite=None, labels=None):
    """A ``Summary`` proto of :func:`relevance_image`, made with numpy only.

    >>> import numpy as np
    >>> pb = relevance_image_pb("probes", np.random.rand(1, 4, 4), np.random.randn(1, 4, 4), [[1.0, 2.0]], [1])
    >>> [v.tag for v in pb.value]
    ['probes/lrp']
    """
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_image(inputs, relevance, scores, target, labels, class_names, comp)
    md = metadata.create_summary_metadata(metadata.IMAGE, name, comp, shape=np.shape(inputs))
    return _proto(metadata.tag_for(metadata.IMAGE, name, comp), md, np.array(blobs, dtype=object))


def relevance_text_pb(name, tokens, relevance, scores, target, class_names=None, composite=None, labels=None):
    """A ``Summary`` proto of :func:`relevance_text`, made with numpy only."""
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_text(tokens, relevance, scores, target, labels, class_names, comp)
    md = metadata.create_summary_metadata(metadata.TEXT, name, comp, shape=[len(tokens)])
    return _proto(metadata.tag_for(metadata.TEXT, name, comp), md, np.array(blobs, dtype=object))


def relevance_units_pb(name, layer, relevance, target, composite=None):
    """A ``Summary`` proto of :func:`relevance_units`, made with numpy only."""
    comp = composite or DEFAULT_COMPOSITE
    values = encoding.encode_units(relevance, target)
    md = metadata.create_summary_metadata(metadata.UNITS, name, comp, layer=layer, shape=values.shape)
    return _proto(metadata.tag_for(metadata.UNITS, name, comp, layer), md, values)


def relevance_unit_heatmaps_pb(name, layer, units, heatmaps, composite=None):
    """A ``Summary`` proto of :func:`relevance_unit_heatmaps`, made with numpy only."""
    comp = composite or DEFAULT_COMPOSITE
    blobs = encoding.encode_unit_heatmaps(units, heatmaps)
    md = metadata.create_summary_metadata(metadata.UNIT_HEATMAPS, name, comp, layer=layer)
    return _proto(metadata.tag_for(metadata.UNIT_HEATMAPS, name, comp, layer), md, np.array(blobs, dtype=object))

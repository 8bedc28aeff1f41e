"""Write layer activations for the Activations dashboard, like ``tf.summary.image`` writes images.

Two flavours: :func:`activations` for TensorFlow summary writers, and :func:`activations_pb`, a numpy
one that returns a ``Summary`` proto for any event writer and needs no TensorFlow.
"""
import numpy as np

from tb_nnvis.plugins.activations import encoding, metadata


def activations(name, data, step=None, description=None):
    """Write the activations of one layer for a batch of probe inputs.

    Args:
      name: the layer's name or path (``"block2/conv1"``); it becomes the tag.
      data: activations, ``[probes, units]`` (dense), ``[probes, T, units]`` (sequence) or
        ``[probes, H, W, units]`` (convolution); any float tensor or array.
      step: the training step; defaults to ``tf.summary.experimental.get_step()``.
      description: optional text shown with the layer.

    Returns:
      True if written, False if no default writer was set or recording is off.

    Example:

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> writer = tf.summary.create_file_writer(tempfile.mkdtemp())
    >>> with writer.as_default():
    ...     ok = summary.activations("conv1", np.random.rand(4, 8, 8, 16), step=0)
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    shape = tuple(-1 if s is None else int(s) for s in data.shape)
    if len(shape) < 2:
        raise ValueError(f"activations for {name!r} need a probe and a unit axis, got shape {shape}")
    layout = encoding.LAYOUTS.get(len(shape), "volume")
    with tf.summary.experimental.summary_scope(name, "nnvis_activations", values=[data]) as (tag, _):
        md_maps = metadata.create_summary_metadata(metadata.MAPS, tag, layout=layout, shape=shape,
                                                   description=description or "")
        md_stats = metadata.create_summary_metadata(metadata.UNIT_STATS, tag, layout=layout, shape=shape)
        if tf.executing_eagerly():
            if not _recording():
                return False
            enc = encoding.encode_activations(np.asarray(data))
            blobs, stats = tf.constant(enc.blobs, dtype=tf.string), tf.constant(enc.stats)
        else:  # inside tf.function: encode with numpy when the graph runs
            def _encode(d):
                enc = encoding.encode_activations(d.numpy())
                return tf.constant(enc.blobs, dtype=tf.string), tf.constant(enc.stats)

            blobs, stats = tf.py_function(_encode, [data], [tf.string, tf.float32])
        ok = tf.summary.write(tag, blobs, step=step, metadata=md_maps)
        ok_stats = tf.summary.write(tag + metadata.STATS_SUFFIX, stats, step=step, metadata=md_stats)
        return tf.logical_and(ok, ok_stats)


def probe_inputs(data, step=None, name=metadata.PROBE_TAG):
    """Write the probe inputs (images ``[P, H, W]`` or ``[P, H, W, 1|3|4]``) so the dashboard shows them.

    Inputs that are not images (token ids, feature vectors) are skipped; returns False then.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.probe_inputs(np.random.rand(2, 16, 16, 3), step=0)
    >>> bool(ok)
    True
    """
    return _input_images(metadata.PROBE_INPUTS, name, data, step)


def dataset_examples(data, step=None, name=metadata.EXAMPLES_TAG):
    """Write the dataset inputs that :func:`top_examples` indexes into, so the dashboard can show them.

    Like :func:`probe_inputs`: images only; returns False for inputs that are not image-like.
    """
    return _input_images(metadata.DATASET_EXAMPLES, name, data, step)


def _input_images(kind, name, data, step):
    import tensorflow as tf

    if not _recording():
        return False
    blobs = encoding.encode_input_images(np.asarray(data))
    if blobs is None:
        return False
    md = metadata.create_summary_metadata(kind, name, shape=np.shape(data))
    return tf.summary.write(name, tf.constant(blobs, dtype=tf.string), step=step, metadata=md)


def top_examples(name, top, step=None, map_shape=None):
    """Write, for each unit of a layer, the dataset examples that excite it most.

    Args:
      name: the layer's name or path, as in :func:`activations`.
      top: a :class:`tb_nnvis.core.topk.TopK` filled with the layer's activations on the dataset.
      step: the training step.
      map_shape: the shape of one unit's map (e.g. ``(H, W)``), to place the maximum; None for dense.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> from tb_nnvis.core.topk import top_examples as compute_top
    >>> top = compute_top([np.random.rand(20, 6, 6, 4)], k=3)
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.top_examples("conv1", top, step=0, map_shape=(6, 6))
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    if not _recording():
        return False
    shape = [int(s) for s in (map_shape or ())]
    md = metadata.create_summary_metadata(metadata.TOP_EXAMPLES, name, shape=shape)
    return tf.summary.write(name + metadata.TOP_SUFFIX, tf.constant(encoding.encode_top_examples(top)),
                            step=step, metadata=md)


def _recording():
    import tensorflow as tf

    return bool(tf.summary.should_record_summaries())


def activations_pb(name, data, description=None):
    """A ``Summary`` proto holding the activations of one layer, made with numpy only.

    >>> import numpy as np
    >>> pb = activations_pb("dense", np.random.rand(4, 10))
    >>> [v.tag for v in pb.value]
    ['dense', 'dense/_unit_stats']
    """
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    enc = encoding.encode_activations(data)
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name,
        metadata=metadata.create_summary_metadata(metadata.MAPS, name, layout=enc.layout,
                                                  shape=np.shape(data), description=description or ""),
        tensor=tensor_util.make_tensor_proto(np.array(enc.blobs, dtype=object)))
    summary.value.add(
        tag=name + metadata.STATS_SUFFIX,
        metadata=metadata.create_summary_metadata(metadata.UNIT_STATS, name, layout=enc.layout,
                                                  shape=np.shape(data)),
        tensor=tensor_util.make_tensor_proto(enc.stats))
    return summary


def probe_inputs_pb(data, name=metadata.PROBE_TAG):
    """A ``Summary`` proto of the probe inputs (numpy only), or None if they are not image-like."""
    return _input_images_pb(metadata.PROBE_INPUTS, name, data)


def dataset_examples_pb(data, name=metadata.EXAMPLES_TAG):
    """A ``Summary`` proto of the dataset images that top examples index into (numpy only), or None if
    they are not image-like."""
    return _input_images_pb(metadata.DATASET_EXAMPLES, name, data)


def top_examples_pb(name, top, map_shape=None):
    """A ``Summary`` proto of a layer's top dataset examples per unit (numpy only); see :func:`top_examples`.

    >>> import numpy as np
    >>> from tb_nnvis.core.topk import top_examples as compute_top
    >>> pb = top_examples_pb("conv1", compute_top([np.random.rand(20, 6, 6, 4)], k=3), map_shape=(6, 6))
    >>> pb.value[0].tag, list(pb.value[0].tensor.tensor_shape.dim[i].size for i in range(3))
    ('conv1/_top_examples', [4, 3, 3])
    """
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    shape = [int(s) for s in (map_shape or ())]
    summary = summary_pb2.Summary()
    summary.value.add(tag=name + metadata.TOP_SUFFIX,
                      metadata=metadata.create_summary_metadata(metadata.TOP_EXAMPLES, name, shape=shape),
                      tensor=tensor_util.make_tensor_proto(encoding.encode_top_examples(top)))
    return summary


def _input_images_pb(kind, name, data):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    blobs = encoding.encode_input_images(np.asarray(data))
    if blobs is None:
        return None
    summary = summary_pb2.Summary()
    summary.value.add(tag=name, metadata=metadata.create_summary_metadata(kind, name, shape=np.shape(data)),
                      tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    return summary

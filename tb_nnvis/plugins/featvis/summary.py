"""Write synthesized feature images for the Feature visualization dashboard, like ``tf.summary.image``.

:func:`feature_images` writes through the default ``tf.summary`` writer; :func:`feature_images_pb` returns
a ``Summary`` proto for any event writer and needs no TensorFlow.
"""
import numpy as np

from tb_nnvis.plugins.featvis import encoding, metadata


def feature_images(name, images, units, objective_values, step=None, transparency=None, origin=None,
                   value_range=None, objective=None, diversity=False):
    """Write one synthesized image per unit of a layer (e.g. a :func:`tb_nnvis.featvis.render` result).

    Args:
      name: the layer's path (``"block2/conv1"``); it becomes the tag.
      images: ``[B, H, W, C]`` (C = 1, 3 or 4), in ``value_range``.
      units: the unit each image is for; objective_values: what each image reaches (``[B]``).
      step: the training step; defaults to ``tf.summary.experimental.get_step()``.
      transparency: optional ``[B, H, W]`` in [0, 1] (MACO's transparency map).
      origin: the unit whose optimisation found each image (default: ``units``).
      value_range: ``(low, high)`` of the model's inputs, mapped to black and white; default the images' range.
      objective: a short text naming what was maximised.
      diversity: True for several images per unit made to differ (units repeat).

    Returns:
      True if written, False if no default writer was set or recording is off.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.feature_images("conv1", np.random.rand(4, 8, 8, 3), [0, 1, 2, 3], np.ones(4), step=0)
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    if not tf.summary.should_record_summaries():
        return False
    kind = metadata.DIVERSITY if diversity else metadata.IMAGES
    tag = name + (metadata.DIVERSITY_SUFFIX if diversity else metadata.IMAGES_SUFFIX)
    blobs = encoding.encode(images, units, objective_values, origin, transparency, value_range, objective)
    md = metadata.create_summary_metadata(kind, name, shape=np.shape(images))
    return tf.summary.write(tag, tf.constant(blobs, dtype=tf.string), step=step, metadata=md)


def feature_images_pb(name, images, units, objective_values, transparency=None, origin=None, value_range=None,
                      objective=None, diversity=False):
    """A ``Summary`` proto of :func:`feature_images`' data, made with numpy only.

    >>> import numpy as np
    >>> pb = feature_images_pb("conv1", np.random.rand(2, 8, 8, 3), [0, 1], [1.0, 2.0])
    >>> [v.tag for v in pb.value], pb.value[0].metadata.plugin_data.plugin_name
    (['conv1/_featvis'], 'nnvis_featvis')
    """
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    kind = metadata.DIVERSITY if diversity else metadata.IMAGES
    blobs = encoding.encode(images, units, objective_values, origin, transparency, value_range, objective)
    summary = summary_pb2.Summary()
    summary.value.add(tag=name + (metadata.DIVERSITY_SUFFIX if diversity else metadata.IMAGES_SUFFIX),
                      metadata=metadata.create_summary_metadata(kind, name, shape=np.shape(images)),
                      tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    return summary


def result_pb(name, result, objective=None, diversity=False):
    """:func:`feature_images_pb` of a :class:`tb_nnvis.featvis.Result`."""
    return feature_images_pb(name, result.images, result.units, result.values, result.transparency,
                             result.origin, result.value_range, objective or result.objective, diversity)

"""Write a SpRAy result (:func:`tb_nnvis.lrp.spray`) for the Relevance dashboard's "Strategies" view.

:func:`spray` writes with TensorFlow (eagerly, like ``tf.summary.image``); :func:`spray_pb` returns the same
``Summary`` proto with numpy only, for any event writer. One series per (name, composite, class); log it at
several steps to see a strategy appear, grow or vanish while the model trains.
"""
from tensorboard.compat.proto import summary_pb2

from tb_nnvis.plugins import _metadata
from tb_nnvis.plugins.relevance import metadata, spray_encoding
from tb_nnvis.plugins.relevance.summary import _proto, _write


def _metadata_for(name, composite, target, description=""):
    content = {"version": metadata.VERSION, "kind": metadata.SPRAY, "name": str(name), "composite": composite,
               "target": int(target)}
    return _metadata.summary_metadata(metadata.PLUGIN_NAME, content, summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
                                      display_name=str(name), description=description)


def _encoded(name, result, inputs, target, class_name, indices):
    blobs = spray_encoding.encode_spray(result, inputs, target=target, class_name=class_name, indices=indices)
    header = spray_encoding.decode_header(blobs[spray_encoding.HEADER])
    comp, cls = header["composite"], header["target"]
    return spray_encoding.tag_for(name, comp, cls), _metadata_for(name, comp, cls), blobs


def spray(name, result, inputs=None, step=None, target=None, class_name=None, indices=None):
    """Write one class's SpRAy result.

    Args:
      name: the example set's name (``"validation"``); with the composite and class it makes the tag.
      result: a :class:`tb_nnvis.lrp.SprayResult`.
      inputs: the N images given to ``spray`` (shown as thumbnails), or None.
      step: the training step (default ``tf.summary.experimental.get_step()``).
      target: the class, when the result's own ``target`` is not one class; class_name: its name.
      indices: each example's place in your dataset (shown on hover; default 0..N-1).

    Returns:
      True if written, False if no default writer is set or recording is off.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> from tb_nnvis.core.lrp.spray import analyze
    >>> result = analyze(np.random.rand(20, 4, 4), n_neighbors=4)
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.spray("validation", result, np.random.rand(20, 8, 8, 3), step=0, target=1)
    >>> bool(ok)
    True
    """
    tag, md, blobs = _encoded(name, result, inputs, target, class_name, indices)
    return _write(tag, blobs, md, step)


def spray_pb(name, result, inputs=None, target=None, class_name=None, indices=None):
    """A ``Summary`` proto of :func:`spray`, made with numpy only.

    >>> import numpy as np
    >>> from tb_nnvis.core.lrp.spray import analyze
    >>> pb = spray_pb("validation", analyze(np.random.rand(10, 4, 4), n_neighbors=3), target=3)
    >>> [v.tag for v in pb.value]
    ['validation/_spray/epsilon_plus/3']
    """
    import numpy as np

    tag, md, blobs = _encoded(name, result, inputs, target, class_name, indices)
    return _proto(tag, md, np.array(blobs, dtype=object))

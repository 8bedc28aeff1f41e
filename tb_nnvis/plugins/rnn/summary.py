"""Write RNN traces and next-token predictions for the RNN cells dashboard.

:func:`rnn_traces` and :func:`rnn_predictions` write through the default ``tf.summary`` writer (call them
eagerly); :func:`rnn_traces_pb` and :func:`rnn_predictions_pb` return ``Summary`` protos made with numpy
only, for any event writer.
"""
import numpy as np

from tb_nnvis.plugins.rnn import encoding, metadata


def rnn_traces(name, tokens, traces, step=None, description=None):
    """Write the per-timestep traces of one recurrent layer over the probe texts.

    Args:
      name: the layer's path (``"lstm"``, ``"encoder/bi/forward"``); it becomes the tag.
      tokens: per probe, its tokens (a list of strings; a plain string is its characters).
      traces: ``{kind: [probes, steps, units]}`` for this layer, e.g. ``tb_nnvis.rnn.traces(model, x)["lstm"]``
        (kinds ``hidden``, ``cell``, ``input_gate``, ``forget_gate``, ``output_gate``, ``update_gate``,
        ``reset_gate``, ``candidate``). Steps past a probe's tokens are padding and are not shown.
      step: the training step; defaults to ``tf.summary.experimental.get_step()``.
      description: optional text shown with the layer.

    Returns:
      True if written, False if no default writer was set or recording is off.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> h = np.tanh(np.random.default_rng(0).normal(size=(1, 5, 4)))
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.rnn_traces("lstm", ["hello"], {"hidden": h}, step=0)
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    if not tf.executing_eagerly():
        raise RuntimeError("rnn_traces writes numpy traces: call it eagerly (outside tf.function)")
    if not tf.summary.should_record_summaries():
        return False
    checked = encoding.check_traces(traces)
    blobs = encoding.encode_traces(tokens, checked)
    md = _traces_metadata(name, checked, description)
    return tf.summary.write(name, tf.constant(blobs, dtype=tf.string), step=step, metadata=md)


def rnn_predictions(tokens, probabilities, vocabulary, step=None, k=5):
    """Write the top-``k`` next tokens at each position of each probe (for next-token models).

    ``probabilities`` is ``[probes, steps, len(vocabulary)]``; ``vocabulary`` lists the tokens in index
    order. The dashboard shows them under the cursor.

    >>> import tensorflow as tf, numpy as np, tempfile
    >>> from tb_nnvis import summary
    >>> probs = np.full((1, 2, 3), 1 / 3)
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     ok = summary.rnn_predictions(["ab"], probs, ["a", "b", "c"], step=0)
    >>> bool(ok)
    True
    """
    import tensorflow as tf

    if not tf.summary.should_record_summaries():
        return False
    blobs = encoding.encode_predictions(tokens, probabilities, vocabulary, k)
    md = metadata.create_summary_metadata(metadata.PREDICTIONS, metadata.PREDICTIONS_TAG)
    return tf.summary.write(metadata.PREDICTIONS_TAG, tf.constant(blobs, dtype=tf.string), step=step, metadata=md)


def _traces_metadata(name, checked, description):
    kinds = list(checked)
    return metadata.create_summary_metadata(
        metadata.TRACES, name, cell=encoding.cell_type(kinds), units=checked["hidden"].shape[2], traces=kinds,
        description=description or "")


def _summary(tag, md, blobs):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    summary = summary_pb2.Summary()
    summary.value.add(tag=tag, metadata=md, tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    return summary


def rnn_traces_pb(name, tokens, traces, description=None):
    """A ``Summary`` proto of one layer's traces (numpy only; arguments as in :func:`rnn_traces`).

    >>> import numpy as np
    >>> pb = rnn_traces_pb("gru", ["ab"], {"hidden": np.zeros((1, 2, 3))})
    >>> [v.tag for v in pb.value]
    ['gru']
    """
    checked = encoding.check_traces(traces)
    return _summary(name, _traces_metadata(name, checked, description), encoding.encode_traces(tokens, checked))


def rnn_predictions_pb(tokens, probabilities, vocabulary, k=5):
    """A ``Summary`` proto of the top-``k`` next tokens (numpy only; see :func:`rnn_predictions`)."""
    md = metadata.create_summary_metadata(metadata.PREDICTIONS, metadata.PREDICTIONS_TAG)
    return _summary(metadata.PREDICTIONS_TAG, md, encoding.encode_predictions(tokens, probabilities, vocabulary, k))

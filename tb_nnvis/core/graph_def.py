"""A Keras 3 model as a ``GraphDef`` that TensorBoard's Graphs tab draws.

Keras 3's own ``TensorBoard(write_graph=True)`` writes nothing. TensorBoard already ships the
conversion of a model's JSON config into nodes and edges
(``tensorboard.plugins.graph.keras_util.keras_model_to_graph_def``): one node per layer, nested
models as name scopes (expandable groups), a shared layer once with an edge from each of its calls.
This module reuses it and adds what it lacks: the layers at the top level (the converter wraps them
all in one group named after the model, a closed box in the Graphs tab), the op of each node (the layer class, so the Graphs
tab colours and labels nodes by type), each layer's output shapes (``_output_shapes``, drawn on the
edges) and its parameter counts.

Example:

>>> import keras
>>> model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(3, name="hidden"),
...                           keras.layers.Dense(2, name="out")], name="mlp")
>>> graph = model_to_graph_def(model)
>>> [(n.name, n.op, n.attr["parameters"].i) for n in graph.node]
[('x', 'InputLayer', 0), ('hidden', 'Dense', 15), ('out', 'Dense', 8)]
>>> list(graph.node[2].input), graph.node[2].attr["output_shape"].s
(['hidden'], b'(None, 2)')
"""
import json

import keras
import numpy as np


class GraphError(ValueError):
    """The model has no graph we can draw; the message says what is missing and what to do."""


def model_to_graph_def(model):
    """The ``GraphDef`` of a built Sequential or Functional Keras 3 model (nested models as groups).

    Node attributes: ``keras_class``, ``dtype`` (from TensorBoard's converter), ``output_shape``
    (text, one per call of a shared layer), ``_output_shapes``, ``parameters`` and
    ``trainable_parameters``. Raises :class:`GraphError` for a model that was never built or a
    subclassed model, which has no functional graph.
    """
    from tensorboard.plugins.graph import keras_util

    _check_drawable(model)
    try:
        config = json.loads(model.to_json())
    except (NotImplementedError, TypeError, ValueError) as e:
        raise GraphError(f"model {model.name!r} cannot be serialised to a config ({type(e).__name__}: {e}); "
                         "the Graphs tab needs model.to_json() to work") from None
    graph = keras_util.keras_model_to_graph_def(config)
    layers = dict(_scoped_layers(model, ""))
    # The converter puts everything in one group named after the model, which the Graphs tab shows as a
    # single closed box: drop it, so the layers are the top level and nested models the groups.
    prefix = model.name + "/"
    for node in graph.node:
        node.name = node.name[len(prefix):] if node.name.startswith(prefix) else node.name
        node.op = node.attr["keras_class"].s.decode("ascii") or "Layer"
        # A shared layer calling itself lists its own name once per call; keep each edge once.
        inputs = list(dict.fromkeys(i[len(prefix):] if i.startswith(prefix) else i for i in node.input))
        del node.input[:]
        node.input.extend(inputs)
        layer = layers.get(node.name)
        if layer is not None:
            _annotate(node, layer)
    return graph


def _check_drawable(model):
    from tb_nnvis.core import taps

    if not isinstance(model, keras.Model):
        raise GraphError(f"expected a keras.Model, got {type(model).__name__}")
    try:
        taps._graph(model)  # the same checks (built, not subclassed) and messages as for tapping layers
    except ValueError as e:
        raise GraphError(str(e)) from None


def _scoped_layers(model, scope):
    """``(node name, layer)`` for every layer, named as TensorBoard's converter names them."""
    graph = model._functional if isinstance(model, keras.Sequential) else model
    for layer in graph.operations:
        name = f"{scope}/{layer.name}" if scope else layer.name
        if isinstance(layer, keras.Model) and (isinstance(layer, keras.Sequential) or hasattr(layer, "_nodes_by_depth")):
            yield from _scoped_layers(layer, name)
        else:
            yield name, layer


def _annotate(node, layer):
    calls = layer._inbound_nodes
    shapes = list(dict.fromkeys(tuple(t.shape) for call in calls for t in call.output_tensors))
    if shapes:
        node.attr["output_shape"].s = ", ".join(_shape_text(s) for s in shapes).encode("utf-8")
        # The Graphs tab labels edges with the first call's outputs (one shape per output).
        for tensor in calls[0].output_tensors:
            proto = node.attr["_output_shapes"].list.shape.add()
            for dim in tensor.shape:
                proto.dim.add(size=-1 if dim is None else int(dim))
    node.attr["parameters"].i = _count(layer.weights)
    node.attr["trainable_parameters"].i = _count(layer.trainable_weights)


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _count(weights):
    return int(sum(int(np.prod(w.shape)) for w in weights))


def graph_pb(model):
    """A ``Summary`` holding the model's graph the way TensorBoard's loaders store a run graph (no
    TensorFlow needed), so any event writer can log it; the Graphs tab shows it for the run.

    >>> import keras
    >>> pb = graph_pb(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    >>> pb.value[0].tag, pb.value[0].metadata.plugin_data.plugin_name
    ('__run_graph__', 'graphs')
    """
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.plugins.graph import metadata

    serialized = model_to_graph_def(model).SerializeToString()
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[serialized],
                                    tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": 1}]))
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE)
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.RUN_GRAPH_NAME, metadata=md, tensor=tensor)
    return summary


def write_graph(log_dir, model):
    """Write ``model``'s graph to ``log_dir`` so that TensorBoard's Graphs tab shows it for that run.

    >>> import keras, tempfile
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> write_graph(tempfile.mkdtemp(), model)
    True
    """
    import tensorflow as tf

    value = graph_pb(model).value[0]
    writer = tf.summary.create_file_writer(str(log_dir))
    try:
        with writer.as_default():
            return bool(tf.summary.write(value.tag, tf.constant([value.tensor.string_val[0]]), step=0,
                                         metadata=value.metadata))
    finally:
        writer.close()

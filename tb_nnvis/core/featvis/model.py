"""The model as feature visualization sees it: its one image input, its logits (before a final softmax), and
the outputs an objective looks at, in one forward pass (before a fused ReLU-like activation when asked).

>>> import keras
>>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, activation="relu", name="conv")])
>>> graph, shape = input_shape(model)
>>> shape, tuple(tap_fn(model, graph, ["conv"], pre_activation=True)(keras.ops.zeros((1, 8, 8, 3)))["conv"].shape)
((8, 8, 3), (1, 6, 6, 2))
"""
import contextlib

import keras
import tensorflow as tf

from tb_nnvis.core import taps as taps_lib
from tb_nnvis.core.featvis import objectives as obj_lib


def input_shape(model):
    graph = taps_lib._graph(model)
    if len(graph.inputs) != 1:
        raise ValueError(f"feature visualization needs a model with one image input; {model.name!r} has "
                         f"{len(graph.inputs)} inputs")
    shape = tuple(graph.inputs[0].shape[1:])
    if len(shape) != 3:
        raise ValueError(f"feature visualization needs an image input [H, W, C]; {model.name!r} takes {shape}")
    if shape[2] is None:
        raise ValueError(f"the channel count of {model.name!r}'s input is unknown; build it with keras.Input")
    return graph, shape


def logits_tensor(model, graph):
    """The model's output before a final softmax (a Softmax layer, or a Dense with activation softmax)."""
    out = graph.outputs[0]
    layer = out._keras_history.operation
    node = layer._inbound_nodes[out._keras_history.node_index]
    is_softmax = isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "softmax")
    if is_softmax:
        return node.arguments.args[0], None
    if getattr(getattr(layer, "activation", None), "__name__", "") == "softmax":
        if not isinstance(layer, keras.layers.Dense):
            raise ValueError(f"class_logit: the model ends in {type(layer).__name__} {layer.name!r} with a fused "
                             "softmax; end it in a linear layer and keras.layers.Softmax() instead")
        # Dense(softmax): its logits are its own linear map of its input.
        return node.arguments.args[0], lambda x: tf.matmul(x, layer.kernel) + (layer.bias if layer.use_bias else 0)
    return out, None


_RELUS = {"relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish", "selu"}


@contextlib.contextmanager
def without_activation(layers):
    """Layers with a fused ReLU-like activation output their pre-activation while traced (lucid's
    ``*_pre_relu`` tensors): a unit that is zero everywhere still gets a gradient to grow from."""
    swapped = [(layer, layer.activation) for layer in layers
               if getattr(getattr(layer, "activation", None), "__name__", "") in _RELUS]
    try:
        for layer, _ in swapped:
            layer.activation = keras.activations.linear
        yield
    finally:
        for layer, activation in swapped:
            layer.activation = activation


def tap_fn(model, graph, paths, pre_activation=False):
    """A function ``images -> {path: output}`` for the objective's layers, in one forward pass
    (``pre_activation``: for layers with a fused ReLU, the value before it). Images of another size
    than the model's input are let through (``call`` skips the input's shape check): a convolutional
    model sees a window of the image as it is."""
    wanted = [p for p in paths if p != obj_lib.LOGITS]
    found = taps_lib._symbolic(model, set(wanted)) if wanted else {}
    outputs, post = [found[p] for p in wanted], None
    if obj_lib.LOGITS in paths:
        logits, post = logits_tensor(model, graph)
        outputs.append(logits)
        wanted = wanted + [obj_lib.LOGITS]
    tapped = keras.Model(graph.inputs[0], outputs)
    layers = [t.layer for t in taps_lib.list_taps(model, include_all=True) if t.path in paths] if pre_activation else []

    def fn(x):
        with without_activation(layers):
            outs = tapped.call(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        if post is not None:
            outs[-1] = post(outs[-1])
        return dict(zip(wanted, outs))

    return fn

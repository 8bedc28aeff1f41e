"""Rewrite the flat graph so that rules see plain linear maps (zennit's canonizers, for Keras).

- Dense/convolutions become linear steps; a fused activation (``Dense(..., activation="relu")``) is
  split into its own step, so the rule applies to the pre-activation map and the activation gets Pass.
- A separable convolution becomes its depthwise and pointwise convolutions (two linear steps), as it
  would be written in PyTorch/zennit.
- BatchNormalization right after a Dense/convolution (no activation between) is folded into that
  layer's weights (zennit's ``SequentialMergeBatchNorm``); the model's output is unchanged.
- Every product step (``Multiply`` layer, Keras-ops multiply/divide/matmul) learns which of its factors
  are gates (``step.gates``): a sigmoid-like output (sigmoid, hard sigmoid, a bounded ReLU such as
  MobileNetV3's ``relu6(x + 3) / 6``), seen through reshapes and constant shifts/scales; a divisor counts
  as a gate too. :class:`~tb_nnvis.core.lrp.rules.Product` gives gates no relevance.
"""
import keras

from . import keras_ops
from .graph import Step
from .ops import linear_ops

_GATE_THROUGH = (keras.layers.Reshape, keras.layers.Dropout, keras.layers.Identity) + keras_ops.MOVES \
    + keras_ops.SUMS + keras_ops.PRODUCTS


def split_linear(program):
    """Turn every Dense/convolution call into linear step(s) plus, when fused, an activation step."""
    steps = []
    for step in program.steps:
        ops = linear_ops(step.layer)
        if ops is None:
            steps.append(step)
            continue
        act = getattr(step.layer, "activation", None)
        has_act = act is not None and getattr(act, "__name__", "") != "linear"
        keys = [step.inputs[0]]
        for i in range(len(ops)):
            last = i == len(ops) - 1 and not has_act
            keys.append(step.outputs[0] if last else program._key())
        for i, op in enumerate(ops):
            steps.append(Step(step.layer, [keys[i]], [keys[i + 1]], op=op, kind="linear"))
        if has_act:
            steps.append(Step(step.layer, [keys[len(ops)]], step.outputs, fn=act, kind="activation"))
    program.steps = steps


def fold_batchnorm(program):
    """Fold inference BatchNormalization into the linear step feeding it, where that is exact."""
    for bn_step in [s for s in program.steps if isinstance(s.layer, keras.layers.BatchNormalization)]:
        key = bn_step.inputs[0]
        prev = program.producer(key)
        if prev is None or prev.kind != "linear" or not prev.op.foldable:
            continue
        if len(program.consumers(key)) != 1 or key in program.outputs:
            continue
        rank = len(bn_step.node.input_tensors[0].shape)
        axes = bn_step.layer.axis if isinstance(bn_step.layer.axis, (list, tuple)) else [bn_step.layer.axis]
        if [a % rank for a in axes] != [rank - 1]:
            continue  # only the channel axis of channels_last maps onto the kernel's output axis
        prev.op.folds.append(bn_step.layer)
        prev.outputs = list(bn_step.outputs)
        program.steps.remove(bn_step)


def _is_gate(program, key, depth=0):
    """Does the tensor ``key`` come out of a sigmoid-like function (through shape moves and constants)?"""
    step = program.producer(key)
    if step is None or depth > 8:
        return False
    if step.kind == "activation":
        return getattr(step.fn, "__name__", "") in keras_ops.GATE_ACTIVATIONS
    layer = step.layer
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") in keras_ops.GATE_ACTIVATIONS
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is not None
    if isinstance(layer, keras_ops.GATE_OPS):
        return True
    if isinstance(layer, _GATE_THROUGH) and len(step.inputs) == 1:  # reshape, x + c, c·x, x / c
        return _is_gate(program, step.inputs[0], depth + 1)
    return False


def mark_gates(program):
    """Set ``step.gates`` (one flag per input) on every product step."""
    for step in program.steps:
        if isinstance(step.layer, (keras.layers.Multiply,) + keras_ops.PRODUCTS):
            step.gates = [_is_gate(program, k) for k in step.inputs]
            if isinstance(step.layer, keras_ops.DIVISIONS) and len(step.inputs) == 2:
                step.gates[1] = True  # a divisor normalises (x / σ); the numerator is the signal


_KEEP_SIGN = tuple(getattr(keras.layers, n) for n in (
    "Rescaling", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "Reshape", "Flatten", "Permute", "Dropout", "Identity", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D") if hasattr(keras.layers, n))


def mark_sign_unknown(program):
    """``step.sign_unknown`` on linear steps: True where the input is the model's input seen through layers
    that keep its sign (images in [0, 1] or [0, 255]), so a rule that splits by sign checks x ≥ 0 at run
    time; elsewhere the graph decides (ReLU/softmax outputs are ≥ 0, BatchNorm/swish/GELU outputs are
    signed) and the run-time check would only double the traced graph."""
    for step in program.steps:
        if step.kind != "linear":
            continue
        key = step.inputs[0]
        while key not in program.inputs:
            prev = program.producer(key)
            if prev is None or prev.kind != "layer" or not isinstance(prev.layer, _KEEP_SIGN):
                break
            key = prev.inputs[0]
        step.sign_unknown = key in program.inputs


CANONIZERS = (split_linear, fold_batchnorm, mark_gates, mark_sign_unknown)


def canonize(program, fold_bn=True):
    split_linear(program)
    if fold_bn:
        fold_batchnorm(program)
    mark_gates(program)
    mark_sign_unknown(program)
    return program

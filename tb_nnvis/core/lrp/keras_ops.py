"""Keras-ops nodes and preprocessing layers as the graph walker sees them, grouped by the rule they take.

In a Functional model, ``x + 3.0``, ``keras.ops.multiply(a, b)``, ``x[:, 0]`` or ``ops.mean(x, 1)`` are
recorded as nodes of ``keras.src.ops`` operations (``Add``, ``Multiply``, ``GetItem``, ``Mean``, ...)
that are not layers; :class:`~tb_nnvis.core.lrp.graph.Program` turns them into steps like layer calls.
Constants in their arguments (``3.0``, a weight captured at build time) are not inputs of the step,
so they take no relevance: under ``Norm`` they absorb their share like a bias does.

- sums (add, subtract): :class:`Norm`, the ε-rule on the sum (as for the ``Add`` layer);
- products (multiply, divide, matmul, einsum, dot): :class:`Product` (gates take nothing, signals share);
- moves (reshape, transpose, slicing, concatenation, stacking, padding, ...): :class:`Route`;
- means and sums over axes: :class:`Norm`, as average pooling;
- element-wise activations (relu, sigmoid, gelu, silu, ...) and casts: :class:`Pass`;
- ``ops.glu`` (a ⊙ sigmoid(b) of the two halves): :class:`GatedHalf`, all to a, the gate b takes none;
- input preprocessing layers (``Rescaling``, ``Normalization``) and ConvNeXt's ``LayerScale``: :class:`Pass`,
  as zennit treats input normalisation.

Example:
    >>> import keras
    >>> from tb_nnvis.core.lrp.keras_ops import SUMS
    >>> x = keras.Input((3,)); y = x + 3.0
    >>> isinstance(y._keras_history.operation, SUMS)
    True
"""
import importlib

import keras


def _classes(module, *names):
    mod = importlib.import_module(module)
    return tuple(getattr(mod, n) for n in names if hasattr(mod, n))


_NP, _NN, _CORE = "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.core"

SUMS = _classes(_NP, "Add", "Subtract", "Negative")
PRODUCTS = _classes(_NP, "Multiply", "Divide", "TrueDivide", "Matmul", "Einsum", "Dot", "Tensordot", "Inner")
DIVISIONS = _classes(_NP, "Divide", "TrueDivide")
MOVES = (_classes(_NP, "Reshape", "Transpose", "Concatenate", "ExpandDims", "Squeeze", "GetItem", "Stack",
                  "Split", "Take", "TakeAlongAxis", "Flip", "Roll", "Tile", "Repeat", "BroadcastTo", "Moveaxis",
                  "Swapaxes", "Pad", "Ravel", "Hstack", "Vstack", "Copy", "Max", "Amax")
         + _classes(_CORE, "Slice", "Unstack", "ConvertToTensor"))
MEANS = _classes(_NP, "Mean", "Sum", "Average")
ELEMENTWISE = (_classes(_NN, "Relu", "Relu6", "Sigmoid", "HardSigmoid", "Silu", "HardSilu", "Gelu", "Elu",
                        "Selu", "Celu", "LeakyRelu", "Softplus", "Softsign", "Tanh", "HardTanh")
               + _classes(_NP, "Tanh", "Abs", "Absolute", "Clip")
               + _classes(_CORE, "Cast", "StopGradient"))
OP_SOFTMAX = _classes(_NN, "Softmax")
GLU = _classes(_NN, "Glu")

PREPROCESSING = tuple(getattr(keras.layers, n) for n in ("Rescaling", "Normalization") if hasattr(keras.layers, n))
try:  # ConvNeXt's per-channel scaling by a learned constant
    from keras.src.applications.convnext import LayerScale
    PREPROCESSING += (LayerScale,)
except ImportError:  # pragma: no cover - older Keras
    pass

# Factors that open or close a multiplicative gate (Arras et al.): their product takes no relevance.
GATE_ACTIVATIONS = {"sigmoid", "hard_sigmoid"}
GATE_OPS = _classes(_NN, "Sigmoid", "HardSigmoid")


_ADD = _classes(_NP, "Add")
_NONNEG_OPS = _classes(_NN, "Relu", "Relu6", "Sigmoid", "HardSigmoid", "Softmax", "Softplus")


def nonneg_output(step, in_nonneg):
    """Is this Keras-ops step's output known ≥ 0? relu/sigmoid/softmax always; moves, means and maxima of
    non-negative tensors; sums and products of them only when every argument is a tensor (``x + c``
    with a constant c < 0 is not)."""
    op = step.layer
    if isinstance(op, _NONNEG_OPS):
        return True
    if not (in_nonneg and all(in_nonneg)):
        return False
    if isinstance(op, MOVES + MEANS):
        return True
    if isinstance(op, _ADD + PRODUCTS) and not isinstance(op, DIVISIONS):
        args = step.node.arguments
        return len(args.keras_tensors) == len(args._flat_arguments)
    return False

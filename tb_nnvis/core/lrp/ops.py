"""Linear maps of Keras layers with swappable weights, the shared mechanism of all linear rules.

A rule evaluates the layer's linear map with modified weights (``forward``) and sends relevance back
through it (``vjp``, the transposed map). Both are exact: ``vjp`` is the gradient of the same map.
"""
import keras
import tensorflow as tf
from keras import ops as kops


def _vjp(fn, x, grad):
    """x ↦ (∂ Σ fn(x)·grad / ∂x): the transposed linear map, whatever the convolution kind."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x, output_gradients=grad)


class LinearOp:
    """One linear map y = x ⊛ W + b of a layer; ``folds`` holds BatchNormalization layers merged into it."""

    out_axis = -1  # axis of the kernel that indexes output channels (for BatchNorm folding)

    def __init__(self, layer, kernel_attr="kernel", bias_attr="bias", with_bias=True):
        self.layer = layer
        self.kernel_attr = kernel_attr
        self.bias_attr = bias_attr
        self.with_bias = with_bias
        self.folds = []
        self.data_format = getattr(layer, "data_format", "channels_last")

    @property
    def foldable(self):
        return self.data_format == "channels_last"

    def params(self):
        """(kernel, bias or None) as float tensors, BatchNorm folds applied (read at trace time: live weights)."""
        w = tf.convert_to_tensor(getattr(self.layer, self.kernel_attr))
        b = getattr(self.layer, self.bias_attr, None) if self.with_bias else None
        b = None if b is None else tf.convert_to_tensor(b)
        for bn in self.folds:
            w, b = _fold(w, b, bn, self.out_axis, self.out_shape(w))
        return w, b

    def out_shape(self, w):
        shape = [1] * len(w.shape)
        shape[self.out_axis] = w.shape[self.out_axis]
        return shape

    def add_bias(self, y, b):
        if b is None:
            return y
        if self.data_format == "channels_last":
            return y + b
        return y + tf.reshape(b, [1, -1] + [1] * (len(y.shape) - 2))

    def apply(self, x, w):
        raise NotImplementedError

    def forward(self, x, w, b=None):
        return self.add_bias(self.apply(x, w), b)

    def vjp(self, x, w, grad):
        return _vjp(lambda t: self.apply(t, w), x, grad)


def _fold(w, b, bn, out_axis, out_shape):
    """Merge inference-mode BatchNormalization into (w, b): w·s, (b − μ)·s + β with s = γ/√(σ²+ε)."""
    var = tf.convert_to_tensor(bn.moving_variance)
    scale = tf.math.rsqrt(var + bn.epsilon)
    if bn.gamma is not None:
        scale = scale * tf.convert_to_tensor(bn.gamma)
    shift = -tf.convert_to_tensor(bn.moving_mean) * scale
    if bn.beta is not None:
        shift = shift + tf.convert_to_tensor(bn.beta)
    w = w * tf.reshape(scale, out_shape)
    b = shift if b is None else b * scale + shift
    return w, b


class DenseOp(LinearOp):
    def apply(self, x, w):
        return kops.matmul(x, w)

    def vjp(self, x, w, grad):
        return tf.linalg.matmul(grad, w, transpose_b=True)


class EinsumOp(LinearOp):
    """EinsumDense (transformer projections): y = einsum(equation, x, W) + b; not foldable."""

    @property
    def foldable(self):
        return False

    def apply(self, x, w):
        return kops.einsum(self.layer.equation, x, w)


class ConvOp(LinearOp):
    """Conv1D/2D/3D; also the 1×1 pointwise half of a separable convolution (strides 1, valid)."""

    def __init__(self, layer, kernel_attr="kernel", with_bias=True, pointwise=False):
        super().__init__(layer, kernel_attr, with_bias=with_bias)
        self.pointwise = pointwise

    def apply(self, x, w):
        lay = self.layer
        if self.pointwise:
            return kops.conv(x, w, strides=1, padding="valid", data_format=self.data_format)
        return kops.conv(x, w, strides=list(lay.strides), padding=lay.padding,
                         dilation_rate=lay.dilation_rate, data_format=self.data_format)


class ConvTransposeOp(LinearOp):
    out_axis = -2  # kernel is (..., out, in)

    def apply(self, x, w):
        lay = self.layer
        return kops.conv_transpose(x, w, strides=list(lay.strides), padding=lay.padding,
                                   output_padding=lay.output_padding, dilation_rate=lay.dilation_rate,
                                   data_format=self.data_format)


class DepthwiseOp(LinearOp):
    """DepthwiseConv; also the depthwise half of a separable convolution (no bias there)."""

    def out_shape(self, w):  # output channel c·m + k lives at kernel[..., c, k]
        return [1] * (len(w.shape) - 2) + list(w.shape[-2:])

    def apply(self, x, w):
        lay = self.layer
        return kops.depthwise_conv(x, w, strides=lay.strides, padding=lay.padding,
                                   dilation_rate=lay.dilation_rate, data_format=self.data_format)


def _classes(*names):
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


DENSE = _classes("Dense", "EinsumDense")
CONV_STANDARD = _classes("Conv1D", "Conv2D", "Conv3D")
CONV_TRANSPOSE = _classes("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
CONV_DEPTHWISE = _classes("DepthwiseConv1D", "DepthwiseConv2D")
CONV_SEPARABLE = _classes("SeparableConv1D", "SeparableConv2D")
CONVOLUTION = CONV_STANDARD + CONV_TRANSPOSE + CONV_DEPTHWISE + CONV_SEPARABLE
LINEAR = DENSE + CONVOLUTION


def linear_ops(layer):
    """The linear maps a Dense/convolution layer is made of, in order (two for a separable convolution)."""
    if isinstance(layer, CONV_SEPARABLE):
        return [DepthwiseOp(layer, "depthwise_kernel", with_bias=False),
                ConvOp(layer, "pointwise_kernel", pointwise=True, with_bias=layer.use_bias)]
    if isinstance(layer, CONV_DEPTHWISE):
        return [DepthwiseOp(layer, with_bias=layer.use_bias)]
    if isinstance(layer, CONV_TRANSPOSE):
        return [ConvTransposeOp(layer, with_bias=layer.use_bias)]
    if isinstance(layer, CONV_STANDARD):
        return [ConvOp(layer, with_bias=layer.use_bias)]
    if isinstance(layer, keras.layers.EinsumDense):
        return [EinsumOp(layer, with_bias=layer.bias is not None)]
    if isinstance(layer, DENSE):
        return [DenseOp(layer, with_bias=layer.use_bias)]
    return None

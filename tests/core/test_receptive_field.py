"""Receptive fields equal the region where the gradient of a unit's activation at a position with respect to
the input is non-zero, on strided, dilated, pooled, padded, residual, nested and 1-D models."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis.core import taps
from tb_nnvis.core.receptive_field import ReceptiveFieldError, receptive_field, receptive_fields


def strided():
    return keras.Sequential([
        keras.Input((19, 17, 2)),
        keras.layers.Conv2D(3, 3, strides=2, padding="same", name="c1"),
        keras.layers.Conv2D(3, (3, 2), strides=(1, 2), padding="valid", name="c2"),
        keras.layers.Conv2D(3, 4, strides=2, padding="same", name="c3"),
    ], name="strided")


def dilated_pooled():
    return keras.Sequential([
        keras.Input((24, 24, 1)),
        keras.layers.ZeroPadding2D(((2, 1), (0, 3)), name="pad"),
        keras.layers.Conv2D(3, 3, name="c1"),
        keras.layers.Conv2D(3, 3, dilation_rate=2, padding="same", name="dil"),
        keras.layers.MaxPooling2D(2, name="max"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.AveragePooling2D(3, strides=2, padding="same", name="avg"),
        keras.layers.Cropping2D(((1, 0), (0, 1)), name="crop"),
        keras.layers.DepthwiseConv2D(3, padding="same", name="dw"),
    ], name="dilated_pooled")


def residual():
    inp = keras.Input((16, 16, 2))
    stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    block_in = keras.Input((16, 16, 4))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="b_conv1")(block_in)
    x = keras.layers.Conv2D(4, 5, padding="same", name="b_conv2")(x)
    short = keras.layers.Conv2D(4, 1, strides=2, name="b_short")(block_in)
    block = keras.Model(block_in, keras.layers.Add(name="b_add")([x, short]), name="block")
    out = block(stem)
    wide = keras.layers.Concatenate(name="cat")([out, keras.layers.Conv2D(2, 1, name="one")(out)])
    return keras.Model(inp, keras.layers.Activation("linear", name="act")(wide), name="residual")


def sequence():
    return keras.Sequential([
        keras.Input((30, 3)),
        keras.layers.Conv1D(4, 2, padding="causal", name="c0"),  # fills the gaps of the dilated kernel after it
        keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, name="causal"),
        keras.layers.Conv1D(4, 5, strides=3, name="c2"),
        keras.layers.MaxPooling1D(2, name="pool"),
    ], name="sequence")


def gradient_region(model, path, position, batch=32):
    """The input region (start, stop per axis) where d unit(position) / d input is non-zero, over a batch
    of random inputs (so that max pooling's winner moves and the whole field shows up)."""
    tap = taps.TapModel(model, [path])
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    x = tf.constant(np.random.default_rng(0).standard_normal(shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tap(x)[path]
        index = (slice(None),) + tuple(position) + (0,)
        total = tf.reduce_sum(out[index])
    grad = tape.gradient(total, x).numpy()
    mask = np.any(grad != 0, axis=(0, -1))
    if not mask.any():
        return None, True
    nz = np.nonzero(mask)
    region = tuple((int(a.min()), int(a.max()) + 1) for a in nz)
    box = mask[tuple(slice(a, b) for a, b in region)]
    return region, bool(box.all())


def positions(shape):
    """Corners, edges and the middle of a map of this spatial shape."""
    picks = [tuple(0 for _ in shape), tuple(s - 1 for s in shape), tuple(s // 2 for s in shape),
             tuple(min(1, s - 1) for s in shape)]
    return list(dict.fromkeys(picks))


@pytest.mark.parametrize("build", [strided, dilated_pooled, residual, sequence])
def test_field_equals_the_gradients_support(build):
    keras.utils.set_random_seed(1)
    model = build()
    fields = receptive_fields(model)
    checked = 0
    for path, field in fields.items():
        if field.whole:
            continue
        tap = taps.TapModel(model, [path])
        out_shape = tuple(tap.model.outputs[0].shape[1:-1])
        for pos in positions(out_shape):
            region, full = gradient_region(model, path, pos)
            assert field.region(pos) == region, (path, pos)
            assert full, (path, pos)  # no holes: the whole rectangle reaches the unit
            checked += 1
    assert checked >= 8


def test_nested_paths_and_whole_input_layers():
    model = residual()
    field = receptive_field(model, "block/b_add")
    assert field.region((3, 3)) == ((1, 14), (1, 14)) and field.size == (13, 13)
    assert field.region((0, 7)) == ((0, 8), (9, 16))  # clipped where padding sees nothing
    flat = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c"),
                             keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(2, name="d")])
    assert receptive_field(flat, "d").whole and receptive_field(flat, "d").region() == ((0, 8), (0, 8))
    assert receptive_field(flat, "c").to_json() == {"input_shape": [8, 8], "start": [list(range(6))] * 2,
                                                    "stop": [list(range(3, 9))] * 2}


def test_unknown_layers_are_named():
    up = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="before"),
                           keras.layers.UpSampling2D(name="up"), keras.layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ReceptiveFieldError, match="'up'.*upsamples"):
        receptive_field(up, "c")
    assert receptive_field(up, "before").size == (3, 3)  # layers before it are fine

    class Mix(keras.layers.Layer):
        def call(self, x):
            return x + keras.ops.mean(x, axis=(1, 2), keepdims=True)

    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Conv2D(2, 3, name="c")(Mix(name="mix")(inp)))
    with pytest.raises(ReceptiveFieldError, match=r"'mix' \(Mix\).*pointwise=\(Mix,\)"):
        receptive_field(model, "c")
    assert receptive_field(model, "c", pointwise=(Mix,)).size == (3, 3)

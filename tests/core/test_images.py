import numpy as np
import pytest

from tb_nnvis.core import images


def test_quantize_roundtrip_within_half_a_step():
    rng = np.random.default_rng(0)
    maps = (rng.standard_normal((3, 7, 5, 11)) * rng.uniform(0.01, 100, 11)).astype(np.float32)
    atlas = images.quantize_atlas(maps)
    back = images.dequantize_atlas(atlas.pixels, atlas.ranges, 7, 5, 11)
    half_step = (atlas.ranges[..., 1] - atlas.ranges[..., 0])[:, None, None, :] / 510
    assert np.all(np.abs(back - maps) <= half_step * (1 + 1e-5) + 1e-6)
    # Each unit's extremes are hit exactly: 0 and 255 are both used.
    np.testing.assert_allclose(atlas.ranges[..., 0], maps.min(axis=(1, 2)))
    np.testing.assert_allclose(atlas.ranges[..., 1], maps.max(axis=(1, 2)))


def test_tiles_sit_where_the_grid_says():
    maps = np.zeros((1, 2, 3, 5), np.float32)
    for u in range(5):
        maps[0, 1, 2, u] = 1.0  # bottom-right pixel of every unit is its maximum
    atlas = images.quantize_atlas(maps)
    rows, cols = atlas.grid
    for u in range(5):
        r, c = divmod(u, cols)
        tile = atlas.pixels[0, r * 2:(r + 1) * 2, c * 3:(c + 1) * 3, 0]
        assert tile[1, 2] == 255 and tile.sum() == 255
    assert rows * cols >= 5


def test_nonfinite_values_are_flagged_and_do_not_widen_the_range():
    maps = np.array([1.0, np.nan, np.inf, -np.inf, 3.0], np.float32).reshape(1, 1, 5, 1)
    atlas = images.quantize_atlas(maps)
    assert atlas.ranges[0, 0].tolist() == [1.0, 3.0]
    assert atlas.nonfinite[0, 0] == 3
    assert atlas.pixels[0, 0, :, 1].tolist() == [images.FINITE, images.NAN, images.POS_INF, images.NEG_INF,
                                                 images.FINITE]
    back = images.dequantize_atlas(atlas.pixels, atlas.ranges, 1, 5, 1)[0, 0, :, 0]
    assert back[0] == 1.0 and np.isnan(back[1]) and back[2] == np.inf and back[3] == -np.inf and back[4] == 3.0


def test_constant_and_all_nan_units():
    maps = np.stack([np.full((2, 2), 4.0), np.full((2, 2), np.nan)], axis=-1)[None].astype(np.float32)
    atlas = images.quantize_atlas(maps)
    assert atlas.ranges[0].tolist() == [[4.0, 4.0], [0.0, 0.0]]
    back = images.dequantize_atlas(atlas.pixels, atlas.ranges, 2, 2, 2)
    assert np.all(back[..., 0] == 4.0) and np.all(np.isnan(back[..., 1]))


def test_extreme_float32_range_does_not_overflow():
    maps = np.array([-3e38, 3e38], np.float32).reshape(1, 1, 2, 1)
    back = images.dequantize_atlas(*images.quantize_atlas(maps)[:2], 1, 2, 1)
    assert np.all(np.isfinite(back)) and back[0, 0, 0, 0] < 0 < back[0, 0, 1, 0]


@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 3), (4, 6, 4), (1, 1)])
def test_png_roundtrip_and_tensorflow_reads_it(shape):
    import tensorflow as tf

    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = images.encode_png(pixels)
    expected = pixels if pixels.ndim == 3 else pixels[..., None]
    assert np.array_equal(images.decode_png(data), expected)
    assert np.array_equal(tf.io.decode_png(data).numpy(), expected)


def test_png_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        images.encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="H, W"):
        images.encode_png(np.zeros((2, 2, 2), np.uint8))


def test_display_image():
    img = images.to_display_image(np.linspace(-1, 1, 48).reshape(4, 4, 3))
    assert img.dtype == np.uint8 and img.min() == 0 and img.max() == 255
    assert images.to_display_image(np.zeros((5, 4))).shape == (5, 4)
    assert images.to_display_image(np.arange(10)) is None  # token ids are not an image
    assert images.to_display_image(np.zeros((4, 4, 7))) is None

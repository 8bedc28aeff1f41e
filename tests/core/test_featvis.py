"""Feature visualization engine: parameterizations, transforms, objectives and the renderer, against
direct computations."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis import featvis
from tb_nnvis.core.featvis import objectives, param, transforms


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax", name="probs"),
    ])


def test_same_seed_same_images_other_seed_other_images(small_cnn):
    renderer = featvis.Renderer(small_cnn, "conv", units=[0, 3])
    a, b = renderer.run(steps=12, seed=5, verbose=0), renderer.run(steps=12, seed=5, verbose=0)
    c = renderer.run(steps=12, seed=6, verbose=0)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.values, b.values)
    assert np.abs(a.images - c.images).max() > 1e-3


def test_values_are_the_units_channel_means_in_the_models_range(small_cnn):
    result = featvis.render(small_cnn, "conv", units=[1, 4], steps=16, value_range=(-2.0, 3.0), verbose=0)
    assert result.images.min() >= -2.0 and result.images.max() <= 3.0
    conv = keras.Model(small_cnn.inputs[0], small_cnn.get_layer("conv").output)
    means = conv(result.images).numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(result.values, means[[0, 1], [1, 4]], rtol=1e-5, atol=1e-6)
    assert result.transparency.shape == (2, 16, 16) and result.transparency.max() == pytest.approx(1.0)


def test_value_range_read_from_data(small_cnn):
    data = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    result = featvis.render(small_cnn, "conv", units=[0], steps=4, data=data, verbose=0)
    assert result.value_range == (float(data.min()), float(data.max()))
    assert result.images.max() <= data.max() and result.images.min() >= data.min()


def test_decorrelation_round_trips_and_matches_the_data_covariance():
    rng = np.random.default_rng(1)
    mix = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 0.4]])
    pixels = rng.standard_normal((4000, 3)) @ mix.T
    color = param.ColorCorrelation.from_images(pixels.reshape(10, 20, 20, 3))
    m = color.matrix.astype(np.float64)
    cov = np.cov(pixels, rowvar=False)
    np.testing.assert_allclose(m @ m.T / (m @ m.T)[0, 0], cov / cov[0, 0], rtol=1e-3, atol=1e-3)
    x = rng.random((2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(color.to_decorrelated(color.to_image(x)).numpy(), x, atol=1e-5)
    np.testing.assert_allclose(color.to_image(color.to_decorrelated(x)).numpy(), x, atol=1e-5)


@pytest.mark.parametrize("t", [transforms.jitter(3), transforms.random_scale([0.8, 1.2]),
                               transforms.random_rotate(range(-30, 31)),
                               transforms.compose([transforms.jitter(2), transforms.random_rotate([5, -5])])])
def test_transforms_keep_shape_and_value_range(t):
    images = tf.random.uniform((4, 12, 10, 3), 0.2, 0.7, seed=1)
    out = t(images, tf.random.Generator.from_seed(2)).numpy()
    assert out.shape == (4, 12, 10, 3)
    assert out.min() >= 0.2 - 1e-6 and out.max() <= 0.7 + 1e-6


def test_pad_grows_by_its_width_with_grey():
    out = transforms.pad(3)(tf.zeros((1, 4, 4, 1)), None).numpy()
    assert out.shape == (1, 10, 10, 1) and out[0, 0, 0, 0] == 0.5 and out[0, 5, 5, 0] == 0.0


def test_rotation_by_90_degrees_is_exact_and_jitter_shifts_whole_pixels():
    image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    turned = transforms.random_rotate([90])(tf.constant(image), tf.random.Generator.from_seed(0)).numpy()
    assert any(np.allclose(turned[0, :, :, 0], np.rot90(image[0, :, :, 0], k)) for k in (1, -1))
    shifted = transforms.jitter(1)(tf.constant(image), tf.random.Generator.from_seed(0)).numpy()[0, 1:4, 1:4, 0]
    windows = [image[0, 1 + dy:4 + dy, 1 + dx:4 + dx, 0] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert any(np.array_equal(shifted, w) for w in windows)


def test_compose_fuses_affine_transforms_into_the_same_motion():
    image = tf.constant(np.random.default_rng(0).random((1, 9, 9, 2)).astype("float32"))
    fused = transforms.compose([transforms.random_rotate([90]), transforms.random_rotate([90])])
    np.testing.assert_allclose(fused(image, tf.random.Generator.from_seed(0)).numpy()[0],
                               np.rot90(image.numpy()[0], 2), atol=1e-5)


def test_maco_keeps_its_magnitude_spectrum(small_cnn):
    renderer = featvis.Renderer(small_cnn, "conv", units=[2], param="maco")
    before = renderer.param.magnitude.copy()
    renderer.run(steps=10, verbose=0)
    spectrum = np.abs(np.fft.rfft2(renderer.param.linear(renderer.variables).numpy()))
    np.testing.assert_allclose(spectrum[0], before, rtol=1e-3, atol=1e-3 * before.max())
    assert np.abs(renderer.variables[0].numpy() - renderer.param.initial_values(1, 0)[0]).max() > 1e-3


def test_maco_magnitude_from_images_is_their_mean_spectrum():
    images = np.random.default_rng(2).random((6, 8, 8, 3)).astype("float32")
    p = param.make("maco", (8, 8, 3), images=images)
    centred = p.color.to_decorrelated(images - images.mean(axis=(1, 2), keepdims=True)).numpy()
    expected = np.abs(np.fft.rfft2(centred.transpose(0, 3, 1, 2))).mean(axis=0)
    np.testing.assert_allclose(p.magnitude, expected, rtol=1e-4, atol=1e-5)


def test_fourier_and_pixel_images_are_in_unit_range():
    for name in ("pixel", "fourier", "maco"):
        p = param.make(name, (8, 6, 3))
        image = p.image(p.init(3, seed=1)).numpy()
        assert image.shape == (3, 8, 6, 3) and image.min() >= 0 and image.max() <= 1


def _scene(acts, batch=2):
    return objectives.Scene(acts, tf.zeros((batch, 4, 4, 3)))


def test_objectives_against_direct_computations():
    acts = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype("float32")
    scene = _scene({"l": tf.constant(acts)})
    np.testing.assert_allclose(objectives.channel("l", 2)(scene), acts[..., 2].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(objectives.channel("l", [3, 1])(scene),
                               [acts[0, :, :, 3].mean(), acts[1, :, :, 1].mean()], rtol=1e-5)
    np.testing.assert_allclose(objectives.neuron("l", 1)(scene), acts[:, 1, 2, 1], rtol=1e-6)
    v = np.array([1.0, 0, 2.0, 0])
    np.testing.assert_allclose(objectives.direction("l", v)(scene),
                               (acts @ (v / np.linalg.norm(v))).mean(axis=(1, 2)), rtol=1e-5)
    combined = objectives.channel("l", 0) - 0.5 * objectives.channel("l", 1) + 2
    np.testing.assert_allclose(combined(scene), acts[..., 0].mean(axis=(1, 2)) - 0.5 * acts[..., 1].mean(axis=(1, 2)) + 2,
                               rtol=1e-5)


def test_diversity_is_higher_for_different_images():
    same = np.ones((2, 3, 3, 4), np.float32)
    other = same.copy()
    other[1] = np.random.default_rng(0).random((3, 3, 4))
    d_same = objectives.diversity("l")(_scene({"l": tf.constant(same)})).numpy()
    d_other = objectives.diversity("l")(_scene({"l": tf.constant(other)})).numpy()
    np.testing.assert_allclose(d_same, [-1, -1], atol=1e-5)
    assert (d_other > d_same).all()


def test_regularisers_are_zero_on_flat_grey_and_positive_on_noise():
    grey = objectives.Scene({}, tf.fill((1, 6, 6, 3), 0.5))
    noise = objectives.Scene({}, tf.random.uniform((1, 6, 6, 3), seed=0))
    for penalty in (objectives.l1(), objectives.total_variation(), objectives.blur()):
        assert float(penalty(grey)[0]) == pytest.approx(0.0, abs=1e-7)
        assert float(penalty(noise)[0]) > 1e-3


def test_class_logit_is_taken_before_the_softmax(small_cnn):
    result = featvis.render(small_cnn, None, objective=featvis.class_logit(1), steps=6, verbose=0)
    features = keras.Model(small_cnn.inputs[0], small_cnn.layers[1].output)(result.images)
    dense = small_cnn.get_layer("probs")
    logits = features.numpy() @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(result.values, logits[:, 1], rtol=1e-4, atol=1e-5)


def test_composed_objective_with_diversity_makes_a_batch(small_cnn):
    objective = featvis.channel("conv", 0) + 0.5 * featvis.diversity("conv") - 0.1 * featvis.total_variation()
    result = featvis.render(small_cnn, None, objective=objective, units=[0, 0, 0], steps=6, verbose=0)
    assert result.images.shape == (3, 16, 16, 3) and (result.units == -1).all()


def test_nested_and_functional_models():
    inner = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, name="c")], name="block")
    x = keras.Input((12, 12, 3))
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(inner(x))))
    result = featvis.render(model, "block/c", steps=4, verbose=0)
    assert result.images.shape == (4, 12, 12, 3)


def test_size_other_than_the_models_input_is_resized(small_cnn):
    assert featvis.render(small_cnn, "conv", units=[0], size=24, steps=3, verbose=0).images.shape == (1, 24, 24, 3)


def test_clear_errors(small_cnn):
    with pytest.raises(ValueError, match="no layer 'nope'"):
        featvis.render(small_cnn, "nope", steps=1)
    with pytest.raises(ValueError, match=r"units of 'conv' must be in \[0, 6\)"):
        featvis.render(small_cnn, "conv", units=[6], steps=1)
    with pytest.raises(ValueError, match="value_range"):
        featvis.render(small_cnn, "conv", value_range=(1, 1), steps=1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        featvis.render(small_cnn, "conv", data=np.full((1, 16, 16, 3), np.nan), steps=1)
    with pytest.raises(ValueError, match="param must be one of"):
        featvis.render(small_cnn, "conv", param="wavelet", steps=1)
    dense = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="image input"):
        featvis.render(dense, "dense", steps=1)
    with pytest.raises(ValueError, match="different batch sizes"):
        featvis.channel("a", [0, 1]) + featvis.channel("a", [0, 1, 2])


def test_grouped_diversity_compares_only_within_each_group():
    rng = np.random.default_rng(4)
    acts = rng.random((4, 3, 3, 5)).astype("float32")
    grouped = objectives.diversity("l", group=2)(_scene({"l": tf.constant(acts)}, 4)).numpy()
    first = objectives.diversity("l")(_scene({"l": tf.constant(acts[:2])})).numpy()
    second = objectives.diversity("l")(_scene({"l": tf.constant(acts[2:])})).numpy()
    np.testing.assert_allclose(grouped, np.concatenate([first, second]), rtol=1e-5)


def test_window_is_a_periodic_crop_and_its_gradient_the_exact_adjoint():
    rng = np.random.default_rng(5)
    images = tf.constant(rng.random((3, 7, 6, 2)).astype("float32"))
    weights = tf.constant(rng.random((3, 4, 4, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = transforms.Window(0.6, min_size=1)(images, tf.random.Generator.from_seed(1))
        loss = tf.reduce_sum(out * weights)
    grad = tape.gradient(loss, images).numpy()
    assert out.shape == (3, 4, 4, 2)
    expected = np.zeros_like(grad)
    for b in range(3):
        tiled = np.tile(images.numpy()[b], (2, 2, 1))  # the image taken as periodic
        starts = [(y, x) for y in range(7) for x in range(6) if np.array_equal(tiled[y:y + 4, x:x + 4], out[b])]
        assert len(starts) == 1
        y, x = starts[0]
        for i in range(4):
            for j in range(4):
                expected[b, (y + i) % 7, (x + j) % 6] += weights[b, i, j]
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(8, 6, 3), (7, 5, 3), (6, 9, 1)])
def test_fourier_hand_written_gradient_equals_autodiff(shape):
    color = param.ColorCorrelation.from_images(np.random.default_rng(6).random((4, 5, 5, shape[2])))
    p = param.Fourier(shape, color)
    variables = p.init(2, seed=1)
    grad = tf.random.normal((2,) + shape, seed=2)
    with tf.GradientTape() as tape:
        pre = p.color.to_image(p.spatial(variables))  # mixing after the inverse transform, as defined
    expected = tape.gradient(pre, variables, output_gradients=grad)[0]
    np.testing.assert_allclose(p.pre(variables), pre, atol=1e-6)
    np.testing.assert_allclose(p.pre_gradient(variables, grad)[0], expected, atol=1e-5 * np.abs(expected).max())


def test_channel_cossim_against_numpy():
    acts = np.random.default_rng(7).standard_normal((2, 3, 4, 5)).astype("float32")
    got = objectives.channel_cossim("l", [1, 4], power=2.0)(_scene({"l": tf.constant(acts)})).numpy()
    for b, u in enumerate([1, 4]):
        a = acts[b].reshape(-1, 5)
        others = (np.maximum(a, 0) ** 2).sum(axis=1) - np.maximum(a[:, u], 0) ** 2
        cos = a[:, u] / np.sqrt(a[:, u] ** 2 + others)
        np.testing.assert_allclose(got[b], np.mean(a[:, u] * np.maximum(cos, 0.1) ** 2), rtol=1e-5)


def test_window_falls_back_to_the_whole_image_for_models_that_need_their_input_size(small_cnn):
    window = featvis.Window(0.5, min_size=4)
    assert featvis.Renderer(small_cnn, "conv", transforms=window).transform is window
    x = keras.Input((12, 12, 3))
    flat = keras.Model(x, keras.layers.Dense(3, name="d")(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(x))))
    renderer = featvis.Renderer(flat, "d", transforms=window)
    assert renderer.transform.size(12, 12) == (12, 12)
    assert renderer.run(steps=4, verbose=0).images.shape == (3, 12, 12, 3)


def test_keep_best_lets_units_take_over_better_images_of_their_batch(small_cnn):
    result = featvis.render(small_cnn, "conv", steps=16, keep_best=True, verbose=0)
    means = keras.Model(small_cnn.inputs[0], small_cnn.get_layer("conv").output)(result.images).numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(result.values, means[np.arange(6), np.arange(6)], rtol=1e-5, atol=1e-6)
    assert set(result.origin) <= set(range(6))
    # A unit that took over another's image has an image that excites it at least as much as its own did.
    assert (np.diag(means) >= means.max(axis=0) - 1e-5).all()


def test_a_dead_unit_keeps_its_own_image_and_groups_share_their_best():
    # Unit 2 is 0 on every image (a tie everywhere): it keeps its own search's image, not the first one.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(5, 3, activation="relu", name="conv")])
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 2], bias[2] = 0.0, -1.0
    model.get_layer("conv").set_weights([kernel, bias])
    for batch_size in (5, 2):  # one batch; three batches (the last padded), shared across batches
        result = featvis.render(model, "conv", steps=12, batch_size=batch_size, verbose=0)
        assert result.origin[2] == 2 and result.values[2] == 0.0
        means = keras.Model(model.inputs[0], model.get_layer("conv").output)(result.images).numpy().mean(axis=(1, 2))
        np.testing.assert_allclose(result.values, np.diag(means), rtol=1e-5, atol=1e-6)
        assert (np.diag(means) >= means.max(axis=0) - 1e-5).all()

@pytest.mark.parametrize("shape,window", [((16, 12, 3), (10, 7)), ((7, 9, 3), (4, 5)), ((6, 5, 1), (6, 3))])
def test_fourier_window_is_the_shifted_spectrums_inverse_cropped_and_its_gradient_the_adjoint(shape, window):
    rng = np.random.default_rng(8)
    color = param.ColorCorrelation.from_images(rng.random((4, 5, 5, shape[2])))
    p = param.Fourier(shape, color)
    variables = [tf.constant(rng.standard_normal(p.initial_values(3, 0)[0].shape).astype("float32"))]
    start = tf.constant(np.stack([rng.integers(0, shape[0], 3), rng.integers(0, shape[1], 3)], 1).astype("int32"))
    got = p.window_pre(variables, start, window).numpy()
    # numpy, float64: a shift by s is the phase ramp e^{-2πi k·s/N} on the spectrum (np.fft's sign); irfft2, crop.
    x = variables[0].numpy().astype(np.float64) * p._scale
    spectrum = np.transpose(x[0] + 1j * x[1], (1, 2, 0, 3))  # [B, C, H, W//2+1]
    ky, kx = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    for b, (sy, sx) in enumerate(start.numpy()):
        shifted = spectrum[b] * np.exp(2j * np.pi * (ky * sy + kx * sx))
        image = np.fft.irfft2(shifted, s=shape[:2]).transpose(1, 2, 0) @ color.matrix.T.astype(np.float64)
        np.testing.assert_allclose(got[b], image[:window[0], :window[1]], atol=1e-5 * np.abs(image).max())
    # <A x, y> = <x, A^T y> for random x, y.
    y = rng.standard_normal(got.shape).astype("float32")
    x2 = rng.standard_normal(variables[0].shape).astype("float32")
    ax = np.sum(p.window_pre([tf.constant(x2)], start, window).numpy().astype(np.float64) * y)
    aty = np.sum(x2.astype(np.float64) * p.window_pre_gradient(variables, start, window, tf.constant(y))[0].numpy())
    assert ax == pytest.approx(aty, rel=1e-5, abs=1e-4)


def test_periodic_place_is_the_adjoint_of_the_periodic_window():
    rng = np.random.default_rng(9)
    images, windows = rng.random((2, 5, 7, 2)).astype("float32"), rng.random((2, 3, 4, 2)).astype("float32")
    start = tf.constant([[4, 6], [0, 2]])
    cut = transforms._periodic_window(tf.constant(images), start, (3, 4)).numpy()
    placed = transforms.periodic_place(tf.constant(windows), start, (5, 7)).numpy()
    assert np.sum(cut * windows) == pytest.approx(np.sum(images * placed), rel=1e-6)
    assert placed[0, 4, 6].tolist() == windows[0, 0, 0].tolist() and placed[0, 1, 2].tolist() == windows[0, 2, 3].tolist()
    assert np.count_nonzero(placed[..., 0]) == 2 * 3 * 4


def test_renderer_making_just_the_window_equals_cropping_the_whole_image(small_cnn):
    # A Fourier render through a window makes only the window; with that turned off it makes the whole image
    # and crops it (same random windows): the same optimisation, up to rounding.
    window = featvis.Window(0.5, min_size=4)
    fast = featvis.Renderer(small_cnn, "conv", units=[0, 2, 5], transforms=window)
    slow = featvis.Renderer(small_cnn, "conv", units=[0, 2, 5], transforms=window)
    slow._window = None
    assert fast._window == (8, 8)
    a, b = fast.run(steps=24, seed=3, verbose=0), slow.run(steps=24, seed=3, verbose=0)
    np.testing.assert_allclose(a.images, b.images, atol=2e-3)
    np.testing.assert_allclose(a.transparency, b.transparency, atol=2e-3)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-3, atol=1e-5)


def test_objectives_with_image_penalties_see_the_whole_image(small_cnn):
    # total_variation needs the whole image: such an objective keeps the crop-the-whole-image path.
    window = featvis.Window(0.5, min_size=4)
    penalised = objectives.channel("conv", [1, 2]) - 0.01 * objectives.total_variation()
    assert featvis.Renderer(small_cnn, None, objective=penalised, transforms=window)._window is None
    plain = objectives.channel("conv", [1, 2])
    assert featvis.Renderer(small_cnn, None, objective=plain, transforms=window)._window == (8, 8)

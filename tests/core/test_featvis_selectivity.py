"""The heart of feature visualization's correctness: on the demo CNN, each unit's synthesized image is the
image that excites it most, and excites it at least as much as the best dataset example does. Checked
with a ``keras.Model`` on the layer's output, independently of the renderer's own bookkeeping."""
import keras
import numpy as np
import pytest

from tb_nnvis import featvis


@pytest.fixture(scope="module")
def demo_cnn():
    from demo.shapes import compiled_demo_cnn, make_images

    keras.utils.set_random_seed(0)
    x, y = make_images(3000, seed=0)
    model = compiled_demo_cnn()
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    return model, make_images(400, seed=1)[0]


def test_each_live_unit_is_excited_most_by_its_own_image_and_beyond_the_dataset(demo_cnn):
    model, data = demo_cnn
    result = featvis.render(model, "conv3", verbose=0)
    conv3 = keras.Model(model.inputs[0], model.get_layer("conv3").output)
    means = conv3(result.images).numpy().mean(axis=(1, 2))           # [image, unit]
    dataset_best = conv3(data).numpy().mean(axis=(1, 2)).max(axis=0)  # [unit]
    units = np.arange(64)
    own = means[units, units]
    np.testing.assert_allclose(result.values, own, rtol=1e-4, atol=1e-5)
    live = dataset_best > 0
    assert live.sum() >= 32
    selective = (means.argmax(axis=0) == units) | (own >= means.max(axis=0))
    reaches = own >= dataset_best
    assert selective[live].mean() >= 0.9, selective[live].mean()
    assert reaches[live].mean() >= 0.9, reaches[live].mean()
    # Each image's origin names a unit whose optimisation found it, and the image of a unit that kept its
    # own beats every other image on that unit.
    assert set(result.origin) <= set(units)
    kept = result.origin == units
    assert kept.sum() >= 8

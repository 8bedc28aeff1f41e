"""The Projector bridge: files the built-in Projector reads, checked against the layer's own output. A real
``tensorboard`` serving them (both loaders) is checked in tests/plugins/test_weights_http.py and, in the
browser, in tests/browser/test_tb_tabs_ui.py."""
import keras
import numpy as np
import pytest

from tb_nnvis import projector
from tb_nnvis.core import images
from tb_nnvis.core import projector as core


def cnn():
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv")(inp)
    block_in = keras.Input((6, 6, 5))
    block = keras.Model(block_in, keras.layers.Conv2D(6, 3, name="inner")(block_in), name="block")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(block(x))
    return keras.Model(inp, keras.layers.Dense(3, name="logits")(x), name="net")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    model = cnn()
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 3)).astype("float32")
    labels = np.array(["cat", "dog\tx", "<b>bird</b>", "eel"] * 10)
    logdir = tmp_path_factory.mktemp("proj")
    run = logdir / "run"
    names = [projector.log_activations(run, model, "conv", x, labels=labels, step=0, max_points=30),
             projector.log_activations(run, model, "block/inner", x, labels=labels, step=0, max_points=30),
             projector.log_activations(run, model, "logits", x, labels=labels, step=7, max_points=30)]
    return {"logdir": logdir, "run": run, "model": model, "x": x, "labels": labels, "names": names}


def test_points_equal_the_pooled_layer_output(logged):
    model, x, run = logged["model"], logged["x"], logged["run"]
    keep = core.subsample(len(x), 30)
    conv = keras.Model(model.inputs[0], model.get_layer("conv").output)(x[keep]).numpy().mean(axis=(1, 2))
    written = np.loadtxt(run / "projector" / "conv_step0.tsv", delimiter="\t", ndmin=2)
    np.testing.assert_allclose(written, conv, rtol=1e-5, atol=1e-6)
    block = model.get_layer("block")
    inner = keras.Model(block.inputs, block.get_layer("inner").output)
    expected = inner(keras.Model(model.inputs[0], model.get_layer("conv").output)(x[keep])).numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(np.loadtxt(run / "projector" / "block_inner_step0.tsv", delimiter="\t"),
                               expected, rtol=1e-5, atol=1e-6)


def test_config_metadata_and_sprite(logged):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    run = logged["run"]
    config = text_format.Parse((run / "projector_config.pbtxt").read_text(), ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["conv @ step 0", "block/inner @ step 0", "logits @ step 7"]
    assert list(config.embeddings[2].tensor_shape) == [30, 3]
    assert len({e.metadata_path for e in config.embeddings}) == 1  # one table for the same inputs
    rows = (run / config.embeddings[0].metadata_path).read_text().splitlines()
    keep = core.subsample(40, 30)
    assert rows[0] == "label\tindex" and len(rows) == 31
    assert rows[2] == f"{' '.join(logged['labels'][keep[1]].split())}\t1"  # a tab inside a label is a space
    sprite = images.decode_png((run / config.embeddings[0].sprite.image_path).read_bytes())
    assert list(config.embeddings[0].sprite.single_image_dim) == [8, 8] and sprite.shape == (48, 48, 3)
    first = images.to_display_image(logged["x"][keep[0]])
    np.testing.assert_array_equal(sprite[:8, :8], first)


def test_logging_again_replaces_one_embedding(logged, tmp_path):
    model, x = logged["model"], logged["x"]
    projector.log_activations(tmp_path, model, "conv", x[:5], step=1)
    projector.log_activations(tmp_path, model, "conv", x[5:10], step=1)
    text = (tmp_path / "projector_config.pbtxt").read_text()
    assert text.count("conv @ step 1") == 1
    assert list(tmp_path.glob("events.out.tfevents.*"))  # the Projector lists only runs with an event file


def test_sprite_shrinks_to_fit():
    sprite, (w, h) = core.sprite_image(np.random.rand(100, 40, 40), max_side=200)
    assert (w, h) == (20, 20) and sprite.shape == (200, 200, 3)


def test_bad_input_gets_clear_errors(logged, tmp_path):
    model, x = logged["model"], logged["x"]
    with pytest.raises(ValueError, match="labels has 3 rows for 40 inputs"):
        projector.log_activations(tmp_path, model, "conv", x, labels=[1, 2, 3])
    with pytest.raises(ValueError, match="no layer 'nope'"):
        projector.log_activations(tmp_path, model, "nope", x)
    bad = x.copy()
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 of 40 embedding points hold NaN"):
        projector.log_activations(tmp_path, model, "logits", bad)
    with pytest.raises(ValueError, match="sprite images must be"):
        projector.log_activations(tmp_path, model, "conv", x, images=np.zeros((40, 5)))

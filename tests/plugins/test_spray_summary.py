"""SpRAy summaries: a result round-trips through an event file (TensorFlow writer and numpy twin), and the
callback's ``spray=`` option validates its input and follows its schedule."""
import glob
import importlib

import numpy as np
import pytest

from tb_nnvis.plugins.relevance import metadata, spray_encoding as enc
from tb_nnvis.plugins.relevance.spray_callback import SprayOption

S = importlib.import_module("tb_nnvis.core.lrp.spray")


def _result():
    rng = np.random.default_rng(0)
    maps = rng.normal(0, 0.05, (24, 5, 6)) * 1e4  # large values: float16 alone would overflow
    maps[:8, 0, 0] += 3e4
    result = S.analyze(maps, n_neighbors=4)
    result.target[:] = 4
    result.composite = "epsilon"
    return result


def _read_events(logdir):
    import tensorflow as tf
    from tensorboard.util import tensor_util

    out = []
    for path in glob.glob(str(logdir / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.append((event.step, value.tag, value.metadata, tensor_util.make_ndarray(value.tensor)))
    return out


def test_a_result_round_trips_through_an_event_file(tmp_path):
    import tensorflow as tf

    from tb_nnvis import summary

    result = _result()
    images = np.random.default_rng(1).random((24, 10, 12, 3)).astype("float32")
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert summary.spray("validation", result, images, step=7, class_name="<b>four</b>", indices=np.arange(24) * 3)
    [(step, tag, md, blobs)] = _read_events(tmp_path)
    assert step == 7 and tag == "validation/_spray/epsilon/4"
    content = metadata.parse_plugin_metadata(md.plugin_data.content)
    assert content == {"version": 1, "kind": "spray", "name": "validation", "composite": "epsilon", "target": 4}
    d = enc.decode_spray(list(blobs))
    h = d["header"]
    assert (h["target"], h["class_name"], h["n"], h["size"], h["n_clusters"], h["gap"]) == \
        (4, "<b>four</b>", 24, [5, 6], result.n_clusters, result.gap)
    assert h["sizes"] == np.bincount(result.labels).tolist() and h["grid"] == [5, 5]
    np.testing.assert_array_equal(d["labels"], result.labels)
    np.testing.assert_allclose(d["eigenvalues"], result.eigenvalues, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d["embedding"], result.embedding)
    np.testing.assert_allclose(d["cluster_means"], result.cluster_means)
    scale = np.abs(result.relevance).reshape(24, -1).max(1)[:, None, None]
    assert (np.abs(d["maps"] - result.relevance) <= scale * 2 ** -11).all()  # float16 of maps / scale
    np.testing.assert_array_equal(d["indices"], np.arange(24) * 3)
    # the numpy twin writes the same blobs
    pb = summary.spray_pb("validation", result, images, class_name="<b>four</b>", indices=np.arange(24) * 3)
    from tensorboard.util import tensor_util

    assert list(tensor_util.make_ndarray(pb.value[0].tensor)) == list(blobs)


def test_encoding_rejects_what_it_cannot_show():
    result = _result()
    with pytest.raises(ValueError, match="24 analysed examples"):
        enc.encode_spray(result, inputs=np.zeros((3, 4, 4, 3)))
    with pytest.raises(ValueError, match="images"):
        enc.encode_spray(result, inputs=np.zeros((24, 4, 4, 7)))
    several = _result()
    several.target[:3] = 1
    with pytest.raises(ValueError, match="pass target="):
        enc.encode_spray(several)
    bad = _result()
    bad.embedding[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        enc.encode_spray(bad, target=4)
    with pytest.raises(ValueError, match="indices must be 24"):
        enc.encode_spray(result, indices=[1, 2])


@pytest.mark.parametrize("spec, words", [
    ([1, 2], "must be a dict"),
    ({"examples": np.zeros((4, 2))}, '"classes"'),
    ({"examples": np.zeros((4, 2)), "classes": [0], "epochs": 3}, "unknown spray option"),
    ({"examples": np.zeros((4, 2)), "classes": ["a"]}, "class indices"),
    ({"examples": np.zeros((4, 2)), "classes": [0], "labels": [0, 1]}, "4 class indices"),
    ({"examples": np.zeros((4, 2)), "classes": [0], "every_n_epochs": -1}, "non-negative"),
])
def test_spray_option_validates(spec, words):
    with pytest.raises(ValueError, match=words):
        SprayOption(spec, "epsilon_plus")


def test_schedule_before_training_and_every_n_epochs():
    opt = SprayOption({"examples": np.zeros((4, 2)), "classes": [0], "every_n_epochs": 2}, "epsilon")
    assert [opt.due(s, True, 10) for s in (0, 10, 20, 30, 40)] == [True, False, True, False, True]
    assert not opt.due(20, False, 10)  # batch writes never run it
    counting = SprayOption({"examples": np.zeros((4, 2)), "classes": [0], "every_n_epochs": 2}, "epsilon")
    assert [counting.due(s, True, None) for s in (0, 7, 13, 21)] == [True, False, True, False]


def test_callback_with_predicted_classes_and_a_class_out_of_range(tmp_path, caplog):
    import keras

    from tb_nnvis.keras import RelevanceCallback

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((40, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
    predicted = np.asarray(model(x)).argmax(1)
    cb = RelevanceCallback(str(tmp_path / "ok"), probes=x[:2], spray={"examples": x, "classes": [0, 1],
                                                                     "every_n_epochs": 0})
    model.fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[cb])
    events = [e for e in _read_events(tmp_path / "ok") if "/_spray/" in e[1]]
    counts = np.bincount(predicted, minlength=2)
    written = {int(tag.rsplit("/", 1)[1]): enc.decode_spray(list(blobs)) for step, tag, _, blobs in events}
    assert all(step == 0 for step, *_ in events)  # every_n_epochs=0: before training only
    for cls, d in written.items():  # before training, the examples were chosen by the untrained predictions
        np.testing.assert_array_equal(d["indices"], np.flatnonzero(predicted == cls))
    assert set(written) == {c for c in (0, 1) if counts[c] >= 3}
    caplog.clear()
    bad = RelevanceCallback(str(tmp_path / "bad"), probes=x[:2], spray={"examples": x, "classes": [5]})
    model.fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[bad])  # training goes on
    assert "spray classes [5] out of range: the model has 2 classes" in caplog.text

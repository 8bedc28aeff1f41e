"""RelevanceCallback's byte budget: the estimate bounds what is written, and a callback over it cuts the unit
heatmaps, then the targets, says so, writes within the budget, and what it writes is still right."""
import logging

import keras
import numpy as np
import pytest

from tb_nnvis.keras import RelevanceCallback
from tb_nnvis.plugins._budget import size_text
from tb_nnvis.plugins.relevance import budget, encoding, metadata, summary
from tests.plugins.test_relevance_summary import decoded, read_run


def step_bytes(series, step):
    """Bytes the plugin's tensors hold at ``step``: blobs, or the numbers of a float tensor."""
    return sum(sum(len(b) for b in v[step]) if v[step].dtype == object else v[step].nbytes
               for v in series.values() if step in v)


@pytest.mark.parametrize("image", [True, False])
def test_estimate_bounds_what_is_written_for_noise(image):
    rng = np.random.default_rng(0)
    p, t, k, positions = 4, 3, 10, ((24, 20) if image else (37,))
    rel = rng.standard_normal((p, t) + positions + ((3,) if image else ())).astype("float32")
    targets = np.tile(np.arange(t), (p, 1))
    heat = rng.standard_normal((p, 5) + positions).astype("float32")
    if image:  # noise images: the worst case for PNG
        main = summary.relevance_image_pb("p", rng.random((p,) + positions + (3,)), rel, rng.random((p, k)), targets)
        names = 0
    else:
        tokens = [[f"w{i}" for i in range(37)]] * p
        main = summary.relevance_text_pb("p", tokens, rel, rng.random((p, k)), targets)
        names = budget.names_bytes(None, tokens)
    units = summary.relevance_units_pb("p", "conv", rng.standard_normal((p, t, 6, 6, 16)), targets)
    heatmaps = summary.relevance_unit_heatmaps_pb("p", "conv", range(5), heat)
    written = (sum(len(b) for b in main.value[0].tensor.string_val) + len(units.value[0].tensor.tensor_content)
               + sum(len(b) for b in heatmaps.value[0].tensor.string_val))
    step = budget.Step(p, t, positions, k, image_channels=3 if image else 0, unit_layers=(16,), names=names)
    assert written <= step.bytes(heatmaps={"conv": 5}) <= 1.3 * written


@pytest.fixture
def trained():
    """A fresh model each time: the written steps count the optimizer's iterations."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, name="logits")],
                             name="sequential")  # Keras numbers auto-named models per process
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((16, 16, 16, 3)).astype("float32")
    return model, x, np.arange(16) % 4


def fit(trained, run, **options):
    model, x, y = trained
    cb = RelevanceCallback(str(run), probes=x[:4], unit_heatmaps={"conv": "all"}, **options)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    return cb, read_run(run)


def test_over_budget_cuts_the_unit_heatmaps_first_and_writes_within_it(trained, tmp_path, caplog):
    from tb_nnvis.lrp import unit_heatmaps

    model, x, _ = trained
    step = budget.Step(4, 3, (16, 16), 4, image_channels=3)
    limit = step.bytes(heatmaps={"conv": 4}) + 10  # room for the heatmaps of 4 of the 8 units
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb, series = fit(trained, tmp_path, max_bytes_per_step=limit)
    assert (
        f"tb_nnvis: relevance of model 'sequential' would write about "
        f"{size_text(step.bytes(heatmaps={'conv': 8}))} per step (4 probes, 3 targets, 1 composite, unit "
        f"heatmaps of 8 units), over max_bytes_per_step={limit}" in caplog.text)
    assert "writing the unit heatmaps of the first 4 units of conv, about" in caplog.text
    assert cb.num_targets == 3 and "fewer unit_heatmaps units" in caplog.text
    tag = "probes/epsilon_plus" + metadata.HEATMAPS_INFIX + "conv"
    assert sorted(series[tag]) == [0, 2]
    blobs = list(series[tag][2])
    header = encoding.decode_header(blobs[0])
    assert header["units"] == [0, 1, 2, 3] and header["shape"] == [4, 4, 16, 16]
    scales = encoding.decode_array(blobs[1], (4, 4))
    stored = encoding.decode_array(blobs[2], header["shape"], "<f2") * scales[..., None, None]
    expected = unit_heatmaps(model, x[:4], "conv", [0, 1, 2, 3]).sum(-1)  # the final weights wrote step 2
    np.testing.assert_allclose(stored, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())
    assert all(step_bytes(series, s) <= limit for s in (0, 2))


def test_far_over_budget_also_logs_fewer_targets(trained, tmp_path, caplog):
    model, x, _ = trained
    step = budget.Step(4, 3, (16, 16), 4, image_channels=3)
    limit = step.bytes(targets=2, heatmaps={"conv": 1}) + 10
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb, series = fit(trained, tmp_path, max_bytes_per_step=limit)
    assert cb.num_targets == 2
    assert ("writing the unit heatmaps of the first 1 units of conv and logging the first 2 of the 3 target classes "
            "per probe (the shown one first)" in caplog.text)
    header, scores, _, rel = decoded(list(series["probes/epsilon_plus"][2]))
    targets = np.asarray(header["targets"])
    assert targets.shape == (4, 2) and rel.shape == (4, 2, 16, 16)
    np.testing.assert_array_equal(targets[:, 0], model(x[:4]).numpy().argmax(-1))  # the predicted class stays
    assert all(step_bytes(series, s) <= limit for s in (0, 2))


def test_within_budget_or_without_one_nothing_is_cut(trained, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb, series = fit(trained, tmp_path, max_bytes_per_step=None)
        default, _ = fit(trained, tmp_path / "default")
    assert "max_bytes_per_step" not in caplog.text
    assert cb.num_targets == default.num_targets == 3
    tag = "probes/epsilon_plus" + metadata.HEATMAPS_INFIX + "conv"
    assert encoding.decode_header(series[tag][2][0])["units"] == list(range(8))
    with pytest.raises(ValueError, match="max_bytes_per_step"):
        RelevanceCallback(str(tmp_path), probes=np.zeros((1, 4, 4, 1)), max_bytes_per_step=-5)

"""The SpRAy routes over real HTTP: a ``tensorboard`` process (both loaders) on a logdir the callback wrote."""
import json

import numpy as np
import pytest

from tests import helpers
from tests.plugins import spray_logs

P = "/data/plugin/nnvis_relevance/spray"
RING = 5
Q = {"run": "shortcut", "name": "validation", "composite": "epsilon_alpha2_beta1"}


@pytest.fixture(scope="module")
def logs():
    return spray_logs.spray_logdir()


@pytest.fixture(scope="module", params=["false", "true"])
def tb(request, logs):
    with helpers.tensorboard(logs["logdir"], load_fast=request.param, plugin="nnvis_relevance") as base:
        yield base


def test_tags_list_each_analysed_class(tb):
    runs = helpers.get_json(tb, P + "/tags")["runs"]
    assert runs["shortcut"] == [{"name": "validation", "composite": "epsilon_alpha2_beta1", "target": 0},
                                {"name": "validation", "composite": "epsilon_alpha2_beta1", "target": RING}]
    assert runs["pb"] == [{"name": "numpy", "composite": "epsilon_plus", "target": 2}]


def test_history_has_every_written_step(tb, logs):
    cb = logs["shortcut"]["callback"]
    steps = helpers.get_json(tb, P + "/history", **Q, target=RING)["steps"]
    assert [s["step"] for s in steps] == cb.written_steps == [0, 6, 12]
    rings = int((logs["shortcut"]["labels"] == RING).sum())
    for s in steps:
        assert s["n"] == rings and sum(s["sizes"]) == rings and len(s["sizes"]) == s["n_clusters"]
        assert len(s["eigenvalues"]) >= s["n_clusters"] and s["eigenvalues"] == sorted(s["eigenvalues"])


def test_data_finds_the_marked_rings_and_maps_equal_lrp(tb, logs):
    from tb_nnvis.lrp import attribute

    run = logs["shortcut"]
    rings = np.flatnonzero(run["labels"] == RING)
    data = helpers.get_json(tb, P + "/data", **Q, target=RING, step=12)
    assert data["target"] == RING and data["class_name"] == "ring" and data["size"] == [8, 16]
    assert data["indices"] == rings.tolist() and data["has_atlas"] and data["grid"][0] * data["grid"][1] >= len(rings)
    labels = np.asarray(data["labels"])
    marked = run["marked"][rings]
    purity = [marked[labels == c].mean() for c in range(data["n_clusters"])]
    hans = int(np.argmax(purity))
    assert purity[hans] >= 0.9 and (labels == hans).sum() >= 0.9 * marked.sum()
    assert np.asarray(data["cluster_means"]).shape == (data["n_clusters"], 8, 16)
    assert np.asarray(data["embedding"]).shape == (len(rings), 2)
    # the members' maps: LRP of the final weights (step 12 is the end of training), summed over channels and
    # averaged over 2 x 1 blocks, within float16's precision
    maps = helpers.get_json(tb, P + "/maps", **Q, target=RING, step=12, cluster=hans, limit=5)
    assert maps["clusters"] == [hans] * 5 and maps["indices"] == rings[maps["members"]].tolist()
    x = run["examples"][maps["indices"]]
    direct = attribute(run["model"], x, target=RING, composite=Q["composite"]).sum(-1).reshape(5, 8, 2, 16, 1)
    direct = direct.mean(axis=(2, 4)).reshape(5, -1)
    got = np.asarray(maps["maps"])
    np.testing.assert_allclose(got, direct, atol=2e-3 * np.abs(direct).max())


def test_atlas_holds_each_members_thumbnail(tb, logs):
    from tb_nnvis.core.images import decode_png
    from tb_nnvis.plugins.relevance.spray_encoding import thumbnails

    run = logs["shortcut"]
    data = helpers.get_json(tb, P + "/data", **Q, target=0, step=0)
    status, kind, png = helpers.get(tb, P + "/atlas", **Q, target=0, step=0)
    assert status == 200 and kind == "image/png"
    pixels = decode_png(png)
    rows, cols = data["grid"]
    assert pixels.shape == (rows * 8, cols * 16, 3)
    want = thumbnails(run["examples"][data["indices"]], (8, 16))
    for i in (0, 7, len(want) - 1):
        r, c = divmod(i, cols)
        np.testing.assert_array_equal(pixels[r * 8:(r + 1) * 8, c * 16:(c + 1) * 16], want[i])


def test_numpy_writer_series_and_html_class_name(tb):
    q = {"run": "pb", "name": "numpy", "composite": "epsilon_plus", "target": 2}
    history = helpers.get_json(tb, P + "/history", **q)["steps"]
    assert [s["step"] for s in history] == [0, 10] and history[0]["sizes"] == [20, 10]
    data = helpers.get_json(tb, P + "/data", **q, step=10)
    assert data["class_name"] == spray_logs.XSS_CLASS and data["size"] == [4, 4]
    maps = helpers.get_json(tb, P + "/maps", **q, step=10, members="0,29")
    assert len(maps["maps"]) == 2 and len(maps["maps"][0]) == 16


@pytest.mark.parametrize("path, params, status, words", [
    ("/data", dict(Q, target=3, step=0), 404, "no SpRAy of class 3 for 'validation' in run 'shortcut' "
                                             "(analysed classes: 0, 5)"),
    ("/data", dict(Q, run="nope", target=5, step=0), 404, "no SpRAy data in run 'nope'"),
    ("/data", dict(Q, composite="epsilon", target=5, step=0), 404, "no SpRAy of 'validation' with composite"),
    ("/data", dict(Q, target=5, step=3), 404, "step 3 of SpRAy"),
    ("/data", dict(Q, target="x", step=0), 400, "must be an integer"),
    ("/history", {"run": "shortcut"}, 400, "missing query parameter 'name'"),
    ("/maps", dict(Q, target=5, step=0, members="1,x"), 400, "comma-separated"),
    ("/maps", dict(Q, target=5, step=0, members="100000"), 404, "out of range"),
    ("/maps", dict(Q, target=5, step=0, cluster=99), 404, "cluster 99 is out of range"),
    ("/atlas", {"run": "pb", "name": "numpy", "composite": "epsilon_plus", "target": 2, "step": 99}, 404, "step 99"),
    ("/data", {"run": "broken", "name": "garbage", "composite": "lrp", "target": 1, "step": 0}, 400,
     "malformed SpRAy data"),
])
def test_bad_requests_get_clear_messages(tb, path, params, status, words):
    code, kind, body = helpers.get(tb, P + path, **params)
    assert code == status and kind.startswith("application/json")
    assert words in json.loads(body)["error"]

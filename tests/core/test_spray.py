"""SpRAy: finds a planted shortcut, claims no split without one, and its spectral parts equal a direct
computation (dense affinity matrix, numpy eigendecomposition)."""
import importlib

import numpy as np
import pytest

from tests import helpers

S = importlib.import_module("tb_nnvis.core.lrp.spray")
COMPOSITE = "epsilon_alpha2_beta1"


@pytest.fixture(scope="module")
def model():
    return helpers.shortcut_model()


@pytest.fixture(scope="module")
def marked_result(model):
    rings, marked = helpers.shortcut_rings(fraction=0.3)
    result = S.spray(model, rings, target=5, composite=COMPOSITE, size=(16, 16), progress=False)
    return result, rings, marked


def test_the_model_relies_on_the_mark(model, marked_result):
    from demo import shortcut

    _, rings, marked = marked_result
    rows, cols = shortcut.mark_region(helpers.SHORTCUT_SIZE)
    wiped = rings[marked].copy()
    wiped[:, rows, cols] = np.median(wiped.reshape(len(wiped), -1, 3), axis=1)[:, None, None, :]
    with_mark = np.asarray(model(rings[marked]))[:, shortcut.RING]
    without = np.asarray(model(wiped))[:, shortcut.RING]
    assert (with_mark - without).mean() > 1.0  # the ring logit falls when the mark is wiped


def test_marked_examples_form_their_own_cluster_with_relevance_on_the_mark(marked_result):
    from demo import shortcut

    result, _, marked = marked_result
    assert result.n_clusters >= 2 and result.gap == result.n_clusters
    purity = [marked[result.labels == c].mean() for c in range(result.n_clusters)]
    hans = int(np.argmax(purity))
    members = result.labels == hans
    assert purity[hans] >= 0.9
    assert members.sum() >= 0.9 * marked.sum()  # and it holds (nearly) all of them
    rows, cols = shortcut.mark_region(helpers.SHORTCUT_SIZE)
    mean = np.clip(result.cluster_means[hans], 0, None)
    assert mean[rows, cols].sum() / mean.sum() > 0.5
    others = np.clip(result.cluster_means[np.arange(result.n_clusters) != hans], 0, None)
    assert (others[:, rows, cols].sum(axis=(1, 2)) / others.sum(axis=(1, 2)) < 0.1).all()
    # the fields the dashboard reads
    assert result.relevance.shape == (len(marked), 16, 16) and result.embedding.shape == (len(marked), 2)
    assert (result.target == shortcut.RING).all() and result.composite == COMPOSITE
    np.testing.assert_allclose(result.cluster_means[hans],
                               S.normalize(result.relevance[members].reshape(members.sum(), -1)).mean(0)
                               .reshape(16, 16), atol=1e-5)


def test_without_marks_the_eigengap_claims_no_split(model):
    rings, marked = helpers.shortcut_rings(fraction=0.0)
    assert not marked.any()
    result = S.spray(model, rings, target=5, composite=COMPOSITE, size=(16, 16), progress=False)
    assert result.n_clusters == 1 and (result.labels == 0).all()


def test_relevance_is_the_pooled_channel_sum_of_attribute(model):
    from tb_nnvis.lrp import attribute

    rings, _ = helpers.shortcut_rings()
    x = rings[:7]
    maps, classes = S.pooled_relevance(model, x, 5, COMPOSITE, size=(4, 8), batch_size=3)
    full = attribute(model, x, target=5, composite=COMPOSITE).astype(np.float64).sum(axis=-1)
    direct = full.reshape(7, 4, 4, 8, 2).mean(axis=(2, 4))  # 16 x 16 -> 4 x 8 blocks
    np.testing.assert_allclose(maps, direct, rtol=1e-4, atol=1e-6)
    assert classes.tolist() == [5] * 7


def test_pool_maps_fractional_bins_keep_the_mean():
    maps = np.random.default_rng(0).random((3, 10, 7))
    pooled = S.pool_maps(maps, (4, 3))
    assert pooled.shape == (3, 4, 3)
    np.testing.assert_allclose(pooled.mean(axis=(1, 2)), maps.mean(axis=(1, 2)))
    assert S.pool_maps(maps, (32, 32)).shape == (3, 10, 7)  # never enlarged
    np.testing.assert_allclose(S.pool_maps(np.arange(12.).reshape(1, 12), (1, 3)), [[1.5, 5.5, 9.5]])


def _direct_spectrum(features, k):
    """The same analysis written out densely: kNN by sorting all distances, the symmetric affinity, the
    normalised Laplacian and numpy's eigendecomposition."""
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    directed = np.zeros_like(d)
    np.put_along_axis(directed, np.argsort(d, axis=1)[:, :k], 1.0, axis=1)
    a = (directed + directed.T) / 2
    deg = a.sum(1)
    lap = np.eye(len(a)) - a / np.sqrt(deg[:, None] * deg[None, :])
    values, vectors = np.linalg.eigh(lap)
    return values, vectors


@pytest.mark.parametrize("dense_up_to", [10_000, 10])  # numpy's dense path, and ARPACK's Lanczos
def test_spectral_embedding_equals_a_direct_computation(monkeypatch, dense_up_to):
    monkeypatch.setattr(S, "_DENSE_UP_TO", dense_up_to)
    rng = np.random.default_rng(3)
    features = np.concatenate([rng.normal(0, 1, (25, 6)) + 4 * np.eye(6)[0], rng.normal(0, 1, (35, 6))])
    m = 6
    values, vectors = S.spectral_embedding(S.knn_affinity(S.normalize(features), 5), m)
    want_values, want_vectors = _direct_spectrum(features, 5)
    tol = 1e-8 if dense_up_to > 60 else 1e-5  # ARPACK runs to a relative tolerance of 1e-6
    np.testing.assert_allclose(values, want_values[:m], atol=tol)
    # eigenvectors up to sign: compare the projectors onto each eigenvector
    for i in range(m):
        np.testing.assert_allclose(np.outer(vectors[:, i], vectors[:, i]),
                                   np.outer(want_vectors[:, i], want_vectors[:, i]), atol=10 * tol)


def test_analyze_clusters_and_eigengap_on_separated_groups():
    rng = np.random.default_rng(0)
    maps = rng.normal(0, 0.05, (60, 6, 6))
    maps[:30, 0, 0] += 1
    maps[30:45, 5, 5] += 1
    maps[45:, 2, 3] += 1
    r = S.analyze(maps, n_neighbors=5)
    assert r.n_clusters == 3 and np.bincount(r.labels).tolist() == [30, 15, 15]
    assert r.eigenvalues[:3].max() < 1e-6 < r.eigenvalues[3]
    fixed = S.analyze(maps, n_clusters=2, n_neighbors=5)  # (display="tsne" is left to the benchmark: slow here)
    assert fixed.n_clusters == 2 and fixed.gap == 3 and np.abs(fixed.embedding).max() == pytest.approx(1.0)
    # the layout separates the groups: every point is nearer its own group's centre than any other
    centres = np.stack([r.embedding[r.labels == c].mean(0) for c in range(3)])
    nearest = np.argmin(((r.embedding[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == r.labels).all()


def test_result_saves_and_loads(tmp_path):
    r = S.analyze(np.random.default_rng(1).random((20, 4, 4)), n_neighbors=4)
    r.target[:] = 2
    r.save(tmp_path / "r.npz")
    back = S.SprayResult.load(tmp_path / "r.npz")
    for field in S.SprayResult._ARRAYS:
        np.testing.assert_array_equal(getattr(back, field), getattr(r, field))
    assert (back.n_clusters, back.gap, back.composite, back.display) == (r.n_clusters, r.gap, r.composite, r.display)


def test_bad_input_gets_clear_errors(model):
    rings, _ = helpers.shortcut_rings()
    with pytest.raises(ValueError, match="at least 3 examples"):
        S.spray(model, rings[:2], target=5, progress=False)
    with pytest.raises(ValueError, match="n_clusters must be"):
        S.spray(model, rings[:10], target=5, n_clusters=11, progress=False)
    with pytest.raises(ValueError, match="display must be"):
        S.spray(model, rings[:10], target=5, display="umap", progress=False)
    with pytest.raises(ValueError, match="out of range"):
        S.spray(model, rings[:10], target=9, progress=False)
    bad = rings[:10].copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        S.spray(model, bad, target=5, progress=False)
    with pytest.raises(ValueError, match="NaN or Inf"):
        S.analyze(np.full((5, 2, 2), np.inf))
    with pytest.raises(ValueError, match="size must be"):
        S.pool_maps(np.ones((2, 4, 4)), (0, 2))

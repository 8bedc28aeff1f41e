import numpy as np
import pytest

from tb_nnvis.core import topk


def test_streaming_top_k_equals_a_full_sort_in_any_batching():
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((50, 3, 4, 6)).astype(np.float32)
    acts[7, 1, 2, 4] = np.nan  # NaN never wins
    responses = np.nanmax(acts.reshape(50, 12, 6), axis=1)
    for sizes in ([50], [1] * 50, [13, 20, 17]):
        batches = np.split(acts, np.cumsum(sizes)[:-1])
        top = topk.top_examples(batches, k=5)
        for u in range(6):
            order = np.argsort(-responses[:, u], kind="stable")[:5]
            assert top.indices[u].tolist() == order.tolist()
            np.testing.assert_array_equal(top.values[u], responses[order, u])
            flat = acts.reshape(50, 12, 6)[top.indices[u], top.positions[u], u]
            np.testing.assert_array_equal(flat, top.values[u])


def test_fewer_examples_than_k_are_marked():
    top = topk.top_examples([np.array([[1.0, 2.0]])], k=3)
    assert top.indices.tolist() == [[0, -1, -1], [0, -1, -1]]
    assert np.isneginf(top.values[:, 1:]).all()


def test_bad_input():
    with pytest.raises(ValueError, match="units"):
        topk.TopK(3, 2).update(np.ones((2, 3)), 0)
    with pytest.raises(ValueError, match="no activations"):
        topk.top_examples([], k=2)

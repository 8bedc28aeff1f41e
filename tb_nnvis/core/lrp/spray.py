"""Spectral relevance analysis (SpRAy, Lapuschkin et al., Nature Communications 2019): how a model decides
across many examples of a class, and whether some of those decisions rest on an artefact ("Clever Hans").

Relevance for every example (in batches; only the pooled maps are kept, so memory is bounded by them, not by
the inputs), each map summed over channels, pooled to ``size`` and scaled to unit length; a symmetric
k-nearest-neighbour graph over the maps; the normalised Laplacian's smallest eigenvalues and eigenvectors
(the spectral embedding); clusters by scikit-learn's k-means on the embedding, their number from the largest
eigengap unless given; a 2-D layout for display (from the spectral embedding, or t-SNE).

Example:
    >>> import numpy as np, keras
    >>> from tb_nnvis.lrp import spray
    >>> m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
    ...                       keras.layers.Flatten(), keras.layers.Dense(2)])
    >>> r = spray(m, np.random.rand(40, 6, 6, 1).astype("float32"), target=0, size=(3, 3), progress=False)
    >>> r.relevance.shape, r.embedding.shape, r.cluster_means.shape == (r.n_clusters, 3, 3)
    ((40, 3, 3), (40, 2), True)
"""
import dataclasses
import json

import numpy as np

DISPLAYS = ("spectral", "tsne")
_DENSE_UP_TO = 1000  # dense eigendecomposition up to this many examples; sparse Lanczos above


@dataclasses.dataclass
class SprayResult:
    """What :func:`spray` found for N examples (k clusters, m eigenvalues, maps pooled to h × w).

    Fields: ``labels`` int32 ``[N]`` (cluster per example, the largest cluster is 0); ``eigenvalues``
    float64 ``[m]`` (the normalised Laplacian's smallest, ascending); ``embedding`` float32 ``[N, 2]``
    (the display layout); ``cluster_means`` float32 ``[k, h, w]`` (mean normalised map per cluster);
    ``relevance`` float32 ``[N, h, w]`` (each example's pooled map, summed over channels, not normalised);
    ``target`` int32 ``[N]`` (the class each map explains); ``spectral`` float32 ``[N, m]`` (the
    eigenvectors); ``n_clusters``, ``gap`` (the k the eigengap picked), ``composite``, ``display``.
    """

    labels: np.ndarray
    eigenvalues: np.ndarray
    embedding: np.ndarray
    cluster_means: np.ndarray
    relevance: np.ndarray
    target: np.ndarray
    spectral: np.ndarray
    n_clusters: int
    gap: int
    composite: str = "epsilon_plus"
    display: str = "spectral"

    _ARRAYS = ("labels", "eigenvalues", "embedding", "cluster_means", "relevance", "target", "spectral")

    def save(self, path):
        """Write to ``path`` (``.npz``); :meth:`load` reads it back."""
        meta = {"n_clusters": int(self.n_clusters), "gap": int(self.gap), "composite": str(self.composite),
                "display": str(self.display)}
        with open(path, "wb") as f:
            np.savez_compressed(f, meta=np.array(json.dumps(meta)),
                                **{k: getattr(self, k) for k in self._ARRAYS})

    @classmethod
    def load(cls, path):
        """A result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(**{k: data[k] for k in cls._ARRAYS}, **meta)

    def members(self, cluster):
        """Indices of the examples in ``cluster``."""
        return np.flatnonzero(self.labels == cluster)


def spray(model, x, target=None, composite="epsilon_plus", size=(32, 32), n_clusters=None, n_neighbors=10,
          max_clusters=8, display="spectral", batch_size=64, progress=True, seed=0, min_ratio=4.0,
          **preset_kwargs):
    """Spectral relevance analysis of ``model`` over the examples ``x``.

    Args:
        model: a Keras 3 model that :func:`tb_nnvis.lrp.attribute` can explain.
        x: N examples (usually of one class), images ``[N, H, W, C]``, token ids, or a list for several inputs.
        target: the class every map explains (an int), one class per example, or None (each one's prediction).
        composite, **preset_kwargs: the LRP composite, as for :func:`tb_nnvis.lrp.attribute`.
        size: ``(h, w)`` the maps are average-pooled to (never enlarged); a 1-D map (text) uses ``w``.
        n_clusters: how many clusters; None picks it from the eigengap (1 means "no split"; see :func:`eigengap`).
        n_neighbors: k of the k-nearest-neighbour graph (at most N - 1).
        max_clusters: the most clusters the eigengap may pick; min_ratio: the smallest relative eigengap that
            claims a split (see :func:`eigengap`).
        display: the 2-D layout: ``"spectral"`` (the leading eigenvectors' principal plane, cheap) or
            ``"tsne"`` (t-SNE of the spectral embedding: clearer, seconds for thousands of examples).
        batch_size: examples per LRP call; progress: show a progress bar; seed: for k-means and t-SNE.

    Returns:
        A :class:`SprayResult`.
    """
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    _check_clusters(n_clusters, max_clusters, len(x[0] if isinstance(x, (list, tuple)) else x))
    relevance, used = pooled_relevance(model, x, target, composite, size, batch_size, progress, **preset_kwargs)
    result = analyze(relevance, n_clusters=n_clusters, n_neighbors=n_neighbors, max_clusters=max_clusters,
                     display=display, seed=seed, min_ratio=min_ratio)
    result.target = used
    result.composite = composite if isinstance(composite, str) else type(composite).__name__
    return result


def pooled_relevance(model, x, target=None, composite="epsilon_plus", size=(32, 32), batch_size=64, progress=False,
                     **preset_kwargs):
    """``(maps float32 [N, h, w], classes int32 [N])``: each example's relevance, summed over channels and
    pooled to ``size``, computed in batches so that only the pooled maps are kept (the first half of
    :func:`spray`; :func:`analyze` is the second).

    >>> import numpy as np, keras
    >>> m = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> maps, classes = pooled_relevance(m, np.random.rand(5, 4, 4, 2).astype("float32"), 1, "epsilon", (2, 2))
    >>> maps.shape, classes.tolist()
    ((5, 2, 2), [1, 1, 1, 1, 1])
    """
    import tensorflow as tf

    from .engine import explainer, prepare_inputs, targets_for

    exp = explainer(model, composite, **preset_kwargs)
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    n = len(xs[0])
    if n < 3:
        raise ValueError(f"spray needs at least 3 examples to compare, got {n}")
    targets = targets_for(exp, target, n)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(n, unit_name="example")
    pooled, used = [], []
    for start in range(0, n, int(batch_size)):
        stop = min(n, start + int(batch_size))
        batch, _ = prepare_inputs(exp, [v[start:stop] for v in xs])
        rel, t, _ = exp.fn(batch, tf.constant(targets[start:stop]))
        pooled.append(pool_maps(channel_sum(rel[0].numpy()), size))
        used.append(t.numpy())
        if bar is not None:
            bar.update(stop)
    relevance = np.concatenate(pooled).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(relevance.reshape(n, -1)).all(axis=1))
    if len(bad):
        raise ValueError(f"the relevance of {len(bad)} examples is not finite (e.g. examples "
                         f"{bad[:5].tolist()}): check the model's outputs for NaN/Inf on them")
    return relevance, np.concatenate(used).astype(np.int32)


def analyze(relevance, n_clusters=None, n_neighbors=10, max_clusters=8, display="spectral", seed=0,
            min_ratio=4.0):
    """SpRAy on maps already computed: ``relevance`` ``[N, ...]`` (pooled, any sign), see :func:`spray`.

    >>> maps = np.zeros((30, 4, 4)); maps[:20, 0, 0] = 1; maps[20:, 3, 3] = 1
    >>> maps += np.random.default_rng(0).normal(0, 0.05, maps.shape)
    >>> r = analyze(maps, n_neighbors=5)
    >>> r.n_clusters, np.bincount(r.labels).tolist()
    (2, [20, 10])
    """
    maps = np.asarray(relevance, dtype=np.float32)
    n = len(maps)
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    _check_clusters(n_clusters, max_clusters, n)
    if not np.isfinite(maps).all():
        raise ValueError("relevance maps contain NaN or Inf")
    features = normalize(maps.reshape(n, -1))
    graph = knn_affinity(features, n_neighbors)
    m = min(n, max(max_clusters, n_clusters or 0) + 2)  # enough for the gap after max_clusters, and cheap
    eigenvalues, vectors = spectral_embedding(graph, m)
    gap = eigengap(eigenvalues, max_clusters, min_ratio)
    k = n_clusters or gap
    labels = _kmeans(vectors, k, seed)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(k)]).reshape((k,) + maps.shape[1:])
    if display == "tsne":
        layout = _tsne(vectors[:, :max(k, 2) + 1], seed)
    else:
        layout = _spectral_layout(graph, vectors, max(k + 1, 3))
    return SprayResult(labels=labels, eigenvalues=eigenvalues, embedding=layout.astype(np.float32),
                       cluster_means=means.astype(np.float32), relevance=maps, target=np.full(n, -1, np.int32),
                       spectral=vectors.astype(np.float32), n_clusters=int(k), gap=int(gap), display=display)


def channel_sum(relevance):
    """Per-example maps: image relevance ``[B, H, W, C]`` summed over channels; ``[B, H, W]`` and ``[B, L]``
    (per token) as they are.

    >>> channel_sum(np.ones((2, 4, 4, 3))).shape
    (2, 4, 4)
    """
    rel = np.asarray(relevance)
    return rel.sum(axis=-1) if rel.ndim == 4 else rel


def _area_matrix(n_in, n_out):
    """``[n_out, n_in]`` weights of average pooling over (possibly fractional) bins."""
    edges = np.linspace(0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def pool_maps(maps, size):
    """Average-pool ``[N, H, W]`` (or ``[N, L]``) maps to ``size`` = ``(h, w)`` (bins may be fractional;
    a map smaller than ``size`` keeps its size). ``size=None`` keeps them as they are.

    >>> pool_maps(np.arange(16.).reshape(1, 4, 4), (2, 2)).tolist()
    [[[2.5, 4.5], [10.5, 12.5]]]
    """
    maps = np.asarray(maps, dtype=np.float64)
    if size is None:
        return maps
    if len(size) != 2 or any(int(s) < 1 for s in size):
        raise ValueError(f"size must be (height, width) in pixels, e.g. (32, 32), got {size!r}")
    if maps.ndim == 2:
        w = min(int(size[1]), maps.shape[1])
        return maps if w == maps.shape[1] else maps @ _area_matrix(maps.shape[1], w).T
    if maps.ndim != 3:
        raise ValueError(f"maps must be [N, H, W] or [N, L], got shape {maps.shape}")
    h, w = min(int(size[0]), maps.shape[1]), min(int(size[1]), maps.shape[2])
    if (h, w) == maps.shape[1:]:
        return maps
    # two matrix products (BLAS), not one einsum over all four indices
    return _area_matrix(maps.shape[1], h) @ (maps @ _area_matrix(maps.shape[2], w).T)


def normalize(features):
    """Each row scaled to unit Euclidean length (rows of zeros stay zero), so that clusters follow where
    relevance lies, not how much of it there is."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def knn_affinity(features, n_neighbors=10, chunk=1024):
    """Sparse symmetric ``[N, N]`` affinity: 1 where each is among the other's k nearest (Euclidean) neighbours,
    1/2 where only one way round (the mean of the directed k-NN graph and its transpose). Distances come from
    one matrix product per ``chunk`` rows (``|a - b|² = |a|² + |b|² - 2 a·b``), so memory stays ``chunk × N``.

    >>> a = knn_affinity(np.array([[0.], [0.1], [5.], [5.1]]), 1).toarray()
    >>> a.tolist()
    [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]
    """
    import scipy.sparse as sp

    x = np.asarray(features, dtype=np.float32)  # float32 distances: half the time of float64, same neighbours
    n = len(x)
    if int(n_neighbors) < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors!r}")
    k = min(int(n_neighbors), n - 1)
    sq = np.einsum("ij,ij->i", x, x)
    cols = np.empty((n, k), np.int64)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d = x[start:stop] @ x.T  # made into squared distances in place: no N-wide temporaries
        d *= -2.0
        d += sq[None, :]
        d += sq[start:stop, None]
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        cols[start:stop] = np.argpartition(d, k - 1, axis=1)[:, :k]  # the k nearest, in no particular order
    directed = sp.csr_matrix((np.ones(n * k), cols.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    return ((directed + directed.T) * 0.5).tocsr()


def spectral_embedding(affinity, m):
    """The ``m`` smallest eigenvalues (ascending) of the normalised Laplacian ``I - D^-1/2 A D^-1/2`` of
    ``affinity`` and their eigenvectors ``[N, m]``: dense below 1,000 nodes, Lanczos (ARPACK) above."""
    import scipy.sparse as sp

    a = sp.csr_matrix(affinity, dtype=np.float64)
    n = a.shape[0]
    degree = np.asarray(a.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))
    s = sp.diags(scale) @ a @ sp.diags(scale)
    m = min(int(m), n)
    if n > _DENSE_UP_TO:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        v0 = np.random.default_rng(0).random(n)
        try:
            mu, vec = eigsh(s, k=m, which="LA", v0=v0, tol=1e-6)
            order = np.argsort(-mu)
            return np.clip(1.0 - mu[order], 0.0, 2.0), vec[:, order]
        except ArpackNoConvergence:
            pass  # the dense path below is slower but always converges
    lap = np.eye(n) - s.toarray()
    values, vectors = np.linalg.eigh((lap + lap.T) * 0.5)
    return np.clip(values[:m], 0.0, 2.0), vectors[:, :m]


def eigengap(eigenvalues, max_clusters=8, min_ratio=4.0):
    """The number of clusters k (1..max_clusters) the spectrum claims: the k with the largest relative jump
    ``λ_k / λ_(k-1)`` of the sorted eigenvalues (each floored at 1e-4, below what a solver resolves), when that jump is at least
    ``min_ratio``; else 1 (no split).

    Relative, not absolute: the spectrum of a k-nearest-neighbour graph rises steadily, so the largest
    absolute gap among the first few is often far out even for one homogeneous group (we measured gaps of
    0.02 to 0.04 all along), while a group the graph barely connects to the rest shows up as a near-zero
    eigenvalue followed by a jump many times larger (on homogeneous groups the largest ratio we saw was 2.3).

    >>> eigengap([0.0, 1e-9, 0.03, 0.07, 0.08])
    2
    >>> eigengap([0.0, 0.027, 0.061, 0.082, 0.121])
    1
    """
    ev = np.maximum(np.asarray(eigenvalues, dtype=np.float64)[:max_clusters + 1], 1e-4)
    if len(ev) < 3:
        return 1
    ratios = ev[2:] / ev[1:-1]  # ratios[i] is λ_(i+2) / λ_(i+1): the jump after i + 2 clusters
    best = int(np.argmax(ratios))
    return best + 2 if ratios[best] >= min_ratio else 1


def _check_clusters(n_clusters, max_clusters, n):
    if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer))
                                   or not 1 <= n_clusters <= n):
        raise ValueError(f"n_clusters must be None (eigengap) or an integer in 1..{n}, got {n_clusters!r}")
    if isinstance(max_clusters, bool) or not isinstance(max_clusters, (int, np.integer)) or max_clusters < 1:
        raise ValueError(f"max_clusters must be a positive integer, got {max_clusters!r}")


def _kmeans(vectors, k, seed):
    """Clusters of the rows of the first k eigenvectors, each row scaled to unit length (Ng, Jordan and
    Weiss); numbered by size, largest first. One k-means++ start (scikit-learn's default): on these rows the
    clusters the eigengap sees are far apart, and more starts cost more than the eigendecomposition."""
    n = len(vectors)
    if k == 1:
        return np.zeros(n, np.int32)
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    rows = normalize(vectors[:, :k])
    with threadpool_limits(1):  # N x k is tiny: threads cost more than they save, most on a busy machine
        labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(rows)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    return np.argsort(order)[labels].astype(np.int32)


def _spectral_layout(affinity, vectors, count):
    """The principal plane of the random-walk eigenvectors ``D^-1/2 u`` (the constant one has no variance,
    so it drops out by itself)."""
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    walk = vectors[:, :count] / np.sqrt(np.where(degree > 0, degree, 1.0))[:, None]
    walk = walk - walk.mean(axis=0)
    u, s, _ = np.linalg.svd(walk, full_matrices=False)
    layout = u[:, :2] * s[:2]
    if layout.shape[1] < 2:
        layout = np.pad(layout, ((0, 0), (0, 2 - layout.shape[1])))
    return _unit_box(layout)


def _tsne(features, seed):
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3.0)))
    return _unit_box(TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features))


def _unit_box(layout):
    """Centred and scaled so that the largest coordinate is 1 (signs fixed, so layouts are reproducible)."""
    layout = layout - layout.mean(axis=0)
    layout = layout * np.where(np.sum(layout ** 3, axis=0) < 0, -1.0, 1.0)
    peak = np.abs(layout).max()
    return layout / peak if peak > 0 else layout

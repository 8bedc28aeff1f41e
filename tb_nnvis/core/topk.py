"""Streaming top-k dataset examples per unit, as in the Deep Visualization Toolbox.

A unit's response to an example is its maximum over positions; the examples with the k highest
responses are kept, with where in the map the maximum was, so a dashboard can point at the part of
the input that excited the unit. Feed batches of any size; memory is O(units × k).

Example:

>>> import numpy as np
>>> top = TopK(k=2, units=3)
>>> top.update(np.array([[[1., 0., 5.]], [[3., 2., 4.]]]), first_index=0)   # [N=2, positions=1, units=3]
>>> top.update(np.array([[[2., 9., 0.]]]), first_index=2)
>>> top.indices.tolist(), top.values.tolist()
([[1, 2], [2, 1], [0, 1]], [[3.0, 2.0], [9.0, 2.0], [5.0, 4.0]])
"""
import numpy as np


def unit_maxima(activations):
    """Per example and unit: the maximum over all positions and where it is (flat position index).

    ``activations``: ``[N, ..., C]``. NaN counts as smaller than every number, so a unit's top examples
    are real responses. Returns float32 ``[N, C]`` and int32 ``[N, C]``.
    """
    a = np.asarray(activations, dtype=np.float32)
    if a.ndim < 2:
        raise ValueError(f"activations must be [examples, ..., units], got shape {a.shape}")
    flat = a.reshape(a.shape[0], -1, a.shape[-1])
    safe = np.where(np.isnan(flat), -np.inf, flat)
    pos = safe.argmax(axis=1).astype(np.int32)
    return np.take_along_axis(safe, pos[:, None, :], axis=1)[:, 0, :], pos


class TopK:
    """The k examples with the highest maximum response, per unit.

    ``values`` float32 ``[C, k]`` (descending), ``indices`` int64 ``[C, k]`` (dataset index),
    ``positions`` int32 ``[C, k]`` (flat position of the maximum in the unit's map); -1 / -inf where
    fewer than k examples were seen.
    """

    def __init__(self, k, units):
        if k < 1 or units < 1:
            raise ValueError(f"k and units must be positive, got k={k}, units={units}")
        self.k, self.units = int(k), int(units)
        self.values = np.full((units, k), -np.inf, np.float32)
        self.indices = np.full((units, k), -1, np.int64)
        self.positions = np.full((units, k), -1, np.int32)

    def update(self, activations, first_index):
        """Add a batch ``[N, ..., C]`` whose examples have dataset indices ``first_index + 0..N-1``."""
        values, pos = unit_maxima(activations)
        if values.shape[1] != self.units:
            raise ValueError(f"batch has {values.shape[1]} units, expected {self.units}")
        n = values.shape[0]
        idx = np.broadcast_to(np.arange(first_index, first_index + n, dtype=np.int64)[:, None], values.shape)
        self._keep_best(values.T, idx.T, pos.T)

    def merge(self, other):
        """Fold in another TopK over other examples of the same dataset (another worker's or replica's
        shard, with global dataset indices), so the result is the top-k over both.

        >>> a, b = TopK(k=2, units=1), TopK(k=2, units=1)
        >>> a.update(np.array([[1.], [5.]]), first_index=0)
        >>> b.update(np.array([[3.], [0.]]), first_index=2)
        >>> a.merge(b).indices.tolist()
        [[1, 2]]
        """
        if other.units != self.units:
            raise ValueError(f"cannot merge top examples of {other.units} units into {self.units}")
        self._keep_best(other.values, other.indices, other.positions)
        return self

    def to_array(self):
        """``[C, k, 3]`` float64 (value, index, position): the form summaries store and workers exchange."""
        return np.stack([self.values.astype(np.float64), self.indices.astype(np.float64),
                         self.positions.astype(np.float64)], axis=-1)

    @classmethod
    def from_array(cls, array):
        """The inverse of :meth:`to_array`."""
        a = np.asarray(array, dtype=np.float64)
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"top examples must be [units, k, 3], got shape {a.shape}")
        top = cls(a.shape[1], a.shape[0])
        top.values = a[..., 0].astype(np.float32)
        top.indices = a[..., 1].astype(np.int64)
        top.positions = a[..., 2].astype(np.int32)
        return top

    def _keep_best(self, values, indices, positions):
        all_v = np.concatenate([self.values, values], axis=1)
        all_i = np.concatenate([self.indices, indices], axis=1)
        all_p = np.concatenate([self.positions, positions], axis=1)
        # Sort on -value, then the dataset index, so ties keep the earlier example whatever the merge order.
        order = np.lexsort((np.where(all_i < 0, np.iinfo(np.int64).max, all_i), -all_v), axis=1)[:, : self.k]
        self.values = np.take_along_axis(all_v, order, axis=1)
        self.indices = np.take_along_axis(all_i, order, axis=1)
        self.positions = np.take_along_axis(all_p, order, axis=1)


def top_examples(activation_batches, k):
    """Top-k over an iterable of activation batches ``[N_i, ..., C]`` (consecutive dataset indices).

    >>> import numpy as np
    >>> top = top_examples([np.arange(6.).reshape(3, 2), np.array([[10., -1.]])], k=1)
    >>> top.indices.ravel().tolist(), top.values.ravel().tolist()
    ([3, 2], [10.0, 5.0])
    """
    top, seen = None, 0
    for batch in activation_batches:
        batch = np.asarray(batch)
        if top is None:
            top = TopK(k, batch.shape[-1])
        top.update(batch, seen)
        seen += batch.shape[0]
    if top is None:
        raise ValueError("no activations given")
    return top

"""What the summaries need under ``tf.distribute``: one writer (the chief), and results merged across workers.

Keras 3's ``fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), so training
past one machine is a custom loop with ``strategy.run``. In such a loop each worker sees its own shard of
a dataset; :func:`merge_top_examples` gathers every worker's top-k (with global dataset indices) so that the
chief writes the top-k over the whole dataset.

>>> import numpy as np, tensorflow as tf
>>> from tb_nnvis.core.topk import TopK
>>> top = TopK(k=2, units=3)
>>> top.update(np.arange(12.).reshape(4, 3), first_index=0)
>>> merge_top_examples(tf.distribute.get_strategy(), top).indices.tolist()   # one replica: unchanged
[[3, 2], [3, 2], [3, 2]]
>>> is_chief()
True
"""
import numpy as np

from tb_nnvis.core.topk import TopK


def is_chief(strategy=None):
    """Whether this process writes summaries: the chief, or worker 0 of a cluster without a chief.

    TensorBoard expects one writer per run, so under a multi-worker strategy only this process writes.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def merge_top_examples(strategy, top):
    """The top-k over every replica's examples; call it on every worker (it is a collective).

    Each replica's ``top`` must use global dataset indices (e.g. ``first_index`` = the shard's offset), and
    all must have the same ``k`` and units. Returns a new :class:`~tb_nnvis.core.topk.TopK` on every worker.
    """
    import tensorflow as tf

    local = tf.constant(top.to_array()[None])
    if strategy.num_replicas_in_sync == 1:
        return TopK.from_array(local.numpy()[0])
    # One row per replica; replicas of this worker beyond the first add nothing (their rows are empty).
    empty = TopK(top.k, top.units).to_array()[None]

    def value_fn(context):
        return local if context.replica_id_in_sync_group == _first_replica_of_this_worker(strategy, context) \
            else tf.constant(empty)

    per_replica = strategy.experimental_distribute_values_from_function(value_fn)
    gathered = strategy.gather(per_replica, axis=0).numpy()
    merged = TopK(top.k, top.units)
    for row in gathered:
        merged.merge(TopK.from_array(row))
    return merged


def _first_replica_of_this_worker(strategy, context):
    local_replicas = len(strategy.extended.worker_devices)
    worker = context.replica_id_in_sync_group // max(local_replicas, 1)
    return worker * local_replicas


def shard_offsets(n, num_shards):
    """Start index of each of ``num_shards`` contiguous shards of ``n`` examples (as ``np.array_split``).

    >>> shard_offsets(10, 3).tolist()
    [0, 4, 7]
    """
    sizes = [len(part) for part in np.array_split(np.arange(n), num_shards)]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)

"""Past one machine: two worker processes on localhost train a CNN with MultiWorkerMirroredStrategy in a
custom loop (Keras 3's ``fit`` does not run under it), the chief logs activations and the top examples merged
across both workers' shards, and a real ``tensorboard`` serves them.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests import helpers

# Each worker: its shard of the examples, a few steps of a custom loop, then the summaries (chief only).
WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np, tensorflow as tf, keras
    from tb_nnvis import summary
    from tb_nnvis.core import distributed, taps, topk

    logdir, weights_path = sys.argv[1], sys.argv[2]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    rng = np.random.default_rng(0)
    x = rng.random((40, 10, 10, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
        optimizer = keras.optimizers.SGD(0.1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)
    iterator = iter(strategy.experimental_distribute_dataset(data))

    @tf.function
    def train_step(batch):
        def step_fn(inputs):
            xb, yb = inputs
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(yb, model(xb, training=True)), global_batch_size=8)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss
        return strategy.reduce("SUM", strategy.run(step_fn, args=(batch,)), axis=None)

    for _ in range(3):
        train_step(next(iterator))

    # Top examples: each worker searches its own contiguous shard (global indices), then all merge.
    offsets = distributed.shard_offsets(len(x), strategy.num_replicas_in_sync)
    shard = np.array_split(x, strategy.num_replicas_in_sync)[task]
    tap = taps.TapModel(model, ["conv"])
    local = topk.top_examples([np.asarray(tap(shard)["conv"])], k=3)
    local.indices[local.indices >= 0] += offsets[task]
    merged = distributed.merge_top_examples(strategy, local)
    if distributed.is_chief(strategy):
        model.save_weights(weights_path)
        with tf.summary.create_file_writer(logdir).as_default():
            summary.probe_inputs(x[:2], step=3)
            summary.activations("conv", tap(x[:2])["conv"], step=3)
            summary.dataset_examples(x, step=3)
            summary.top_examples("conv", merged, step=3, map_shape=(8, 8))
    print("worker", task, "local", sorted(set(local.indices.ravel().tolist())), flush=True)
""")


def test_two_workers_log_from_the_chief_with_top_examples_merged_across_shards(tmp_path):
    import keras

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = [helpers.free_port(), helpers.free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   PYTHONPATH=os.pathsep.join(sys.path), TF_CPP_MIN_LOG_LEVEL="2")
        logdir = tmp_path / ("logs/mw" if index == 0 else f"worker{index}")
        procs.append(subprocess.Popen([sys.executable, str(script), str(logdir), str(tmp_path / "w.weights.h5")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out)
    # each worker saw only its own shard...
    assert "local" in outs[0] and "local" in outs[1]
    assert not (tmp_path / "worker1").exists()  # ...and only the chief wrote

    # The expected top-3 over the whole dataset, from the chief's final weights.
    rng = np.random.default_rng(0)
    x = rng.random((40, 10, 10, 1)).astype("float32")
    model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.load_weights(tmp_path / "w.weights.h5")
    conv = keras.Model(model.inputs, model.get_layer("conv").output)(x).numpy()
    responses = conv.reshape(40, -1, 6).max(axis=1)
    # Workers' shards overlap neither each other nor leave any example out.
    shards = [set(json.loads(line.split("local", 1)[1])) for out in outs for line in out.splitlines()
              if line.startswith("worker")]
    assert all(shards[0].isdisjoint(s) for s in shards[1:])

    for load_fast in ("false", "true"):
        with helpers.tensorboard(tmp_path / "logs", load_fast=load_fast) as base:
            tags = helpers.get_json(base, "/data/plugin/nnvis_activations/tags")
            assert tags["runs"]["mw"]["conv"]["units"] == 6
            for unit in range(6):
                top = helpers.get_json(base, "/data/plugin/nnvis_activations/top", run="mw", layer="conv", unit=unit)
                expected = np.argsort(-responses[:, unit], kind="stable")[:3]
                got = [ex["index"] for ex in top["examples"]]
                assert got == expected.tolist(), (unit, got, expected)
                np.testing.assert_allclose([ex["value"] for ex in top["examples"]], responses[expected, unit],
                                           rtol=1e-4, atol=1e-5)

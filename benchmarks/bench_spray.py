"""SpRAy: what the analysis adds to the LRP it needs, and what the callback's ``spray=`` option costs in training.

    python benchmarks/bench_spray.py [--examples 2000] [--epochs 10] [--repeats 3] [--tsne]

Prints ratios against baselines measured in the same run, on the demo CNN (32 x 32 images, trained two epochs
on demo.shortcut's six classes first, so the maps have structure):

- ``spray()`` over ``--examples`` images / their relevance alone (the compiled LRP calls in batches of 64,
  nothing kept): goal <= 1.5 (the analysis adds at most 0.5x), the fastest of ``--repeats`` each; with the time of
  each stage (pooling, k-NN graph, eigendecomposition, k-means, layout) and, with ``--tsne``, the t-SNE layout;
- ``fit`` with ``RelevanceCallback(..., spray={"examples": 2000 images, "classes": [ring, 0],
  "every_n_epochs": 5})`` / ``fit`` with the same callback without ``spray``, over ``--epochs`` epochs, and
  the cost per epoch in seconds.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _model():
    import keras

    from demo import shapes, shortcut

    keras.utils.set_random_seed(0)
    x, y, _ = shortcut.make_images(1800, seed=0)
    model = shapes.demo_cnn(classes=len(shortcut.CLASSES))
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    return model, x, y


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def analysis_ratio(model, examples, repeats, tsne):
    import importlib

    import tensorflow as tf

    from tb_nnvis.core.lrp.engine import explainer, prepare_inputs

    S = importlib.import_module("tb_nnvis.core.lrp.spray")  # the module (tb_nnvis.lrp.spray is the function)

    exp = explainer(model, "epsilon_plus")
    target = np.full(len(examples), 5, np.int32)

    def relevance_alone():
        for start in range(0, len(examples), 64):
            batch, _ = prepare_inputs(exp, examples[start:start + 64])
            exp.fn(batch, tf.constant(target[start:start + 64]))[0][0].numpy()

    relevance_alone()  # compile
    S.spray(model, examples[:64], target=5, progress=False)
    lrp, full = [], []
    for _ in range(repeats):
        lrp.append(_timed(relevance_alone)[0])
        t, result = _timed(lambda: S.spray(model, examples, target=5, progress=False))
        full.append(t)
    lrp_s, full_s = min(lrp), min(full)  # the fastest of each: on a shared machine the rest is other people's load
    print(f"SpRAy over {len(examples)} images of the demo CNN: relevance alone {lrp_s:.2f} s, spray() {full_s:.2f} s, "
          f"ratio {full_s / lrp_s:.2f} (goal <= 1.5; found {result.n_clusters} clusters)")
    maps = result.relevance
    stages = {}
    stages["k-NN graph"], graph = _timed(lambda: S.knn_affinity(S.normalize(maps.reshape(len(maps), -1)), 10))
    stages["eigendecomposition"], (_, vectors) = _timed(lambda: S.spectral_embedding(graph, 16))
    stages["k-means"], _ = _timed(lambda: S._kmeans(vectors, max(result.n_clusters, 2), 0))
    stages["spectral layout"], _ = _timed(lambda: S._spectral_layout(graph, vectors, 3))
    stages["analyze() in all"], _ = _timed(lambda: S.analyze(maps))
    if tsne:
        stages["t-SNE layout (display='tsne')"], _ = _timed(lambda: S._tsne(vectors[:, :4], 0))
    for name, seconds in stages.items():
        print(f"  {name}: {seconds:.3f} s ({seconds / lrp_s:.2f}x the relevance)")


def callback_cost(model, x, y, examples, labels, epochs):
    import keras

    from demo import shortcut
    from tb_nnvis.keras import RelevanceCallback

    probes = examples[:6]
    logdir = tempfile.mkdtemp()
    times = {}
    for kind in ("warm-up", "without spray", "with spray"):
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        clone.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        spray = None if kind == "without spray" else {"examples": examples, "labels": labels, "every_n_epochs": 5,
                                                      "classes": [shortcut.RING, 0]}
        cb = RelevanceCallback(os.path.join(logdir, kind.replace(" ", "_")), probes=probes, every_n_epochs=5,
                               spray=spray)
        times[kind], _ = _timed(lambda: clone.fit(x, y, epochs=epochs if kind != "warm-up" else 1, batch_size=64,
                                                  verbose=0, callbacks=[cb]))
    base, with_spray = times["without spray"], times["with spray"]
    print(f"callback over {epochs} epochs of {len(x)} images (SpRAy of 2 classes of {len(examples)} examples every 5 "
          f"epochs and before training): without spray {base:.2f} s, with spray {with_spray:.2f} s, ratio "
          f"{with_spray / base:.2f}; {(with_spray - base) / epochs:.2f} s per epoch")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tsne", action="store_true")
    args = parser.parse_args()
    from demo import shortcut

    model, x, y = _model()
    examples, labels, _ = shortcut.make_images(args.examples * len(shortcut.CLASSES), seed=1)
    rings = examples[labels == shortcut.RING][:args.examples]
    analysis_ratio(model, rings, args.repeats, args.tsne)
    pool, pool_labels, _ = shortcut.make_images(2000, seed=2)
    callback_cost(model, x, y, pool, pool_labels, args.epochs)


if __name__ == "__main__":
    main()

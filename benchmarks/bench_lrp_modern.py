"""LRP on today's architectures: speed, coverage and faithfulness (not a test).

Run: ``python benchmarks/bench_lrp_modern.py [speed] [coverage] [flipping] [deletion]`` (all by default).

1. speed: ``epsilon_plus`` on EfficientNetB0 (64×64, batch 8) and ``attn_lrp`` on a small transformer
   text classifier (2 blocks, 64 tokens, batch 32), each as a ratio to one compiled gradient of the
   same logits in the same run (best of interleaved rounds). Goal ≤ 2×.
2. coverage: EfficientNetB0, EfficientNetV2B0, MobileNetV3Small and ConvNeXtTiny (weights=None, 32×32,
   BatchNorm statistics from the batch) explain with no layer_map under epsilon, epsilon_plus and
   epsilon_gamma_box: finite, non-zero relevance; the sum is printed next to the logit.
3. flipping: pixel flipping (AOPC, as in bench_lrp.py) on a small EfficientNet-style CNN (MBConv blocks
   with squeeze-and-excitation gates, swish, BatchNorm) trained on the procedural images.
4. deletion: token deletion on the planted-token transformer (tests/core/test_lrp_attention.py): mean
   drop of the target logit as the most relevant tokens are replaced by a noise token first.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_lrp import aopc, interleaved, procedural_images  # noqa: E402
from tb_nnvis.lrp import attribute  # noqa: E402

L = keras.layers


def calibrate_batchnorm(model, shape):
    """BatchNorm moving statistics from one batch of 32 random images: untrained application models then
    have logits of order 1, far above ε (a batch of 2 at 1×1 feature maps would divide by ~0)."""
    for layer in model._flatten_layers():
        if isinstance(layer, L.BatchNormalization):
            layer.momentum = 0.0
    model(np.random.default_rng(9).uniform(0, 255, (32,) + shape).astype("float32"), training=True)


def embedding_gradient(model, ids_shape):
    """One compiled gradient of the selected logits w.r.t. the token embedding table (the whole backward)."""
    table = next(layer for layer in model.layers if isinstance(layer, L.Embedding)).embeddings

    @tf.function
    def grad(ids):
        with tf.GradientTape() as tape:
            y = model(ids, training=False)
            sel = tf.reduce_sum(tf.reduce_max(y, axis=-1))
        return tape.gradient(sel, table).values  # IndexedSlices: the rows the batch used
    return grad


def input_gradient(model):
    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x, training=False)
            sel = tf.reduce_sum(tf.reduce_max(y, axis=-1))
        return tape.gradient(sel, x)
    return grad


def transformer(vocab=1000, length=64, dim=64, heads=4, blocks=2, classes=2):
    ids = keras.Input((length,), dtype="int32")
    positions = keras.ops.cumsum(keras.ops.ones_like(ids), axis=1) - 1
    h = L.Embedding(vocab, dim)(ids) + L.Embedding(length, dim)(positions)
    for _ in range(blocks):
        h = L.LayerNormalization()(h + L.MultiHeadAttention(heads, dim // heads)(h, h))
        h = L.LayerNormalization()(h + L.Dense(dim)(L.Dense(4 * dim, activation="gelu")(h)))
    return keras.Model(ids, L.Dense(classes)(L.GlobalAveragePooling1D()(h)), name="transformer")


def report(title, best):
    base = best["gradient (tf.function)"]
    print(f"\n{title}")
    for name, t in best.items():
        print(f"  {name:24s} {1000 * t:8.1f} ms   ratio {t / base:5.2f}x")


def speed(rounds=7):
    keras.utils.set_random_seed(0)
    eff = keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3), classes=10,
                                            classifier_activation=None)
    x = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    calibrate_batchnorm(eff, x.shape[1:])
    g = input_gradient(eff)
    xt = tf.constant(x)
    best = interleaved({"gradient (tf.function)": lambda: g(xt).numpy(),
                        "epsilon_plus": lambda: attribute(eff, x, composite="epsilon_plus"),
                        "epsilon": lambda: attribute(eff, x, composite="epsilon")}, rounds)
    report(f"EfficientNetB0, batch 8, 64x64x3, best of {rounds} interleaved rounds", best)
    tr = transformer()
    ids = np.random.default_rng(0).integers(0, 1000, (32, 64)).astype("int32")
    g = embedding_gradient(tr, ids.shape)
    it = tf.constant(ids)
    best = interleaved({"gradient (tf.function)": lambda: g(it).numpy(),
                        "attn_lrp": lambda: attribute(tr, ids, composite="attn_lrp"),
                        "attn_lrp cp_lrp": lambda: attribute(tr, ids, composite="attn_lrp", cp_lrp=True)}, rounds)
    report(f"Transformer (2 blocks, 4 heads, dim 64), batch 32 x 64 tokens, best of {rounds} rounds", best)


def coverage():
    print("\nCoverage: keras.applications, weights=None, 32x32, no layer_map (sum of relevance vs logit)")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for name in ("EfficientNetB0", "EfficientNetV2B0", "MobileNetV3Small", "ConvNeXtTiny"):
        keras.utils.set_random_seed(0)
        model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10,
                                                  classifier_activation=None)
        calibrate_batchnorm(model, x.shape[1:])
        logit = np.asarray(model(x))[:, 3]
        for comp, kw in (("epsilon", {}), ("epsilon_plus", {}), ("epsilon_gamma_box", {"low": -3.0, "high": 3.0})):
            t = time.perf_counter()
            r = attribute(model, x, target=3, composite=comp, **kw)
            ok = np.isfinite(r).all() and np.abs(r).sum() > 0
            print(f"  {name:17s} {comp:18s} {'ok  ' if ok else 'FAIL'} sum {r.reshape(2, -1).sum(1)} "
                  f"logit {logit}  ({time.perf_counter() - t:.1f} s incl. trace)")


def BN():
    return L.BatchNormalization(momentum=0.9)  # 0.99 leaves the moving statistics unsettled after 5 short epochs


def mbconv(x, filters, expand, stride):
    """EfficientNet's inverted residual with squeeze-and-excitation (sigmoid gate)."""
    inp = x
    h = L.Activation("swish")(BN()(L.Conv2D(x.shape[-1] * expand, 1, use_bias=False)(x)))
    h = L.Activation("swish")(BN()(L.DepthwiseConv2D(3, stride, padding="same", use_bias=False)(h)))
    s = L.Reshape((1, 1, h.shape[-1]))(L.GlobalAveragePooling2D()(h))
    s = L.Conv2D(h.shape[-1], 1, activation="sigmoid")(L.Conv2D(max(4, h.shape[-1] // 4), 1, activation="swish")(s))
    h = L.Multiply()([h, s])
    h = BN()(L.Conv2D(filters, 1, use_bias=False)(h))
    return L.Add()([h, inp]) if stride == 1 and inp.shape[-1] == filters else h


def efficientnet_style():
    i = keras.Input((32, 32, 3))
    x = L.Normalization(mean=[0.45] * 3, variance=[0.05] * 3)(L.Rescaling(1.0)(i))
    x = L.Activation("swish")(BN()(L.Conv2D(16, 3, padding="same", use_bias=False)(x)))
    for filters, stride in ((16, 1), (24, 2), (24, 1), (40, 2)):
        x = mbconv(x, filters, 4, stride)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(4)(x), name="efficientnet_style")


def gradient_x_input(model, x):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        sel = tf.reduce_sum(tf.reduce_max(model(xt), axis=-1))
    return (tape.gradient(sel, xt) * xt).numpy()


def flipping():
    rng = np.random.default_rng(1)
    xtr, ytr = procedural_images(3000, rng)
    xte, yte = procedural_images(200, rng)
    keras.utils.set_random_seed(0)
    model = efficientnet_style()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=5, batch_size=64, verbose=0)
    acc = model.evaluate(xte, yte, verbose=0)[1]
    maps = {"LRP epsilon_plus": attribute(model, xte, composite="epsilon_plus").sum(-1),
            "LRP epsilon": attribute(model, xte, composite="epsilon").sum(-1),
            "gradient x input": gradient_x_input(model, xte).sum(-1),
            "random": rng.uniform(size=xte.shape[:3])}
    print(f"\nPixel flipping on an EfficientNet-style CNN (MBConv + SE gates, test accuracy {acc:.3f}, 200 images)")
    print("  AOPC (mean logit drop over the first 20 steps of 1% most relevant pixels -> noise; higher = better)")
    for name, m in maps.items():
        print(f"  {name:20s} {aopc(model, xte, m, rng=np.random.default_rng(2)):8.3f}")


def token_gradient_x_input(model, ids, target):
    emb = next(layer for layer in model.layers if isinstance(layer, L.Embedding))
    orig, seen = emb.call, {}
    with tf.GradientTape() as tape:
        def call(inputs):
            out = orig(inputs)
            tape.watch(out)
            seen["h"] = out
            return out
        emb.call = call
        try:
            sel = tf.reduce_sum(model(tf.constant(ids)) * tf.one_hot(target, 2), axis=1)
        finally:
            emb.call = orig
    return tf.reduce_sum(tape.gradient(sel, seen["h"]) * seen["h"], -1).numpy()


def deletion(steps=4):
    from tests.core.test_lrp_attention import train_planted_model

    model, (ids, y, where) = train_planted_model()
    rng = np.random.default_rng(5)
    maps = {"LRP attn_lrp": attribute(model, ids, target=y, composite="attn_lrp"),
            "LRP attn_lrp cp_lrp": attribute(model, ids, target=y, composite="attn_lrp", cp_lrp=True),
            "gradient x input": token_gradient_x_input(model, ids, y),
            "random": rng.uniform(size=ids.shape)}
    base = np.asarray(model(ids))[np.arange(len(y)), y]
    print(f"\nToken deletion on the planted-token transformer (200 held-out documents of {ids.shape[1]} tokens):")
    print(f"  mean drop of the target logit over the first {steps} deletions (most relevant token -> noise "
          f"token; higher = better); top-1 = planted token ranked first")
    for name, m in maps.items():
        order = np.argsort(-m, axis=1)
        cur, drops = ids.copy(), []
        for k in range(steps):
            cur[np.arange(len(y)), order[:, k]] = rng.integers(3, 30, len(y))
            drops.append(base - np.asarray(model(cur))[np.arange(len(y)), y])
        top1 = (m.argmax(1) == where).mean()
        print(f"  {name:20s} {np.mean(drops):8.3f}   top-1 {top1:.3f}")


if __name__ == "__main__":
    t0 = time.time()
    parts = sys.argv[1:] or ["speed", "coverage", "flipping", "deletion"]
    for part in parts:
        globals()[part]()
    print(f"\ntotal {time.time() - t0:.0f} s")

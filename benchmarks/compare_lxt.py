"""``attn_lrp`` against LXT 2.1, the AttnLRP authors' PyTorch library, on the same weights (not a test).

Setup (the ``lxt`` extra; LXT's own dependencies are not needed for ``lxt.explicit``)::

    pip install torch==2.13.0 && pip install --no-deps lxt==2.1
    python benchmarks/compare_lxt.py

A small Keras transformer encoder text classifier (token + position embeddings, 2 blocks of
MultiHeadAttention, LayerNormalization and a GELU MLP, mean pooling) is trained briefly on the planted
token task, then rebuilt in PyTorch from ``lxt.explicit.functional`` (``linear_epsilon``, ``matmul``,
``softmax``, ``layer_norm``, ``add2``, ``mean``) with the Keras weights; element-wise activations and the
1/√d scaling go through LXT's identity rule. LXT's relevance reaches the token embeddings as their
``.grad`` (explicit LXT propagates relevance in place of gradients), summed over the embedding axis.
Reported: the largest deviation per token over the batch, relative to the largest relevance. Goal ≤ 2e-3
at ε = 1e-6 (LXT stabilises with z + ε, we with z + ε·sign(z)).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from lxt.explicit import functional as lf  # noqa: E402
from lxt.explicit.rules import identity  # noqa: E402

from tb_nnvis.lrp import attribute  # noqa: E402
from tests.core.test_lrp_attention import planted_documents  # noqa: E402

L = keras.layers
EPS = 1e-6


def keras_transformer(vocab=30, length=12, dim=16, heads=2, blocks=2):
    ids = keras.Input((length,), dtype="int32")
    positions = keras.ops.cumsum(keras.ops.ones_like(ids), axis=1) - 1
    h = L.Embedding(vocab, dim, name="tok")(ids) + L.Embedding(length, dim, name="pos")(positions)
    for b in range(blocks):
        a = L.MultiHeadAttention(heads, dim // heads, name=f"mha{b}")(h, h)
        h = L.LayerNormalization(name=f"ln{b}a")(h + a)
        f = L.Dense(dim, name=f"fc{b}b")(L.Dense(2 * dim, activation="gelu", name=f"fc{b}a")(h))
        h = L.LayerNormalization(name=f"ln{b}b")(h + f)
    return keras.Model(ids, L.Dense(2, name="head")(L.GlobalAveragePooling1D()(h)))


def t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def linear(x, dense, in_axes=1):
    """A Keras Dense or EinsumDense (kernel [...in, ...out], ``in_axes`` input axes) as LXT's ε-rule linear."""
    kernel = np.asarray(dense.kernel)
    w = t(kernel.reshape(int(np.prod(kernel.shape[:in_axes])), -1).T)
    b = None if dense.bias is None else t(np.asarray(dense.bias).reshape(-1))
    return lf.linear_epsilon(x, w, b, EPS)


def lxt_relevance(model, ids, target):
    """Token relevance by LXT's explicit rules on a float64 PyTorch twin of ``model``."""
    get = model.get_layer
    n, length = ids.shape
    tok = t(get("tok").embeddings)[torch.tensor(ids, dtype=torch.long)].requires_grad_(True)
    pos = t(get("pos").embeddings)[:length].expand(n, length, -1)
    h = lf.add2(tok, pos, epsilon=EPS)
    b = 0
    while True:
        try:
            mha = get(f"mha{b}")
        except ValueError:
            break
        heads, hd = mha.num_heads, mha.key_dim

        def split(x):
            return x.reshape(n, length, heads, hd).transpose(1, 2)
        q = split(linear(h, mha._query_dense))
        k = split(linear(h, mha._key_dense))
        v = split(linear(h, mha._value_dense))
        q = identity(lambda x: x / np.sqrt(hd), q)
        p = lf.softmax(lf.matmul(q, k.transpose(-1, -2), epsilon=EPS), -1)
        ctx = lf.matmul(p, v, epsilon=EPS).transpose(1, 2).reshape(n, length, heads * hd)
        a = linear(ctx, mha._output_dense, in_axes=2)
        ln = get(f"ln{b}a")
        h = lf.layer_norm(lf.add2(h, a, epsilon=EPS), t(ln.gamma), t(ln.beta), ln.epsilon)
        f = linear(identity(torch.nn.functional.gelu, linear(h, get(f"fc{b}a"))), get(f"fc{b}b"))
        ln = get(f"ln{b}b")
        h = lf.layer_norm(lf.add2(h, f, epsilon=EPS), t(ln.gamma), t(ln.beta), ln.epsilon)
        b += 1
    logits = linear(lf.mean(h, 1, False, EPS), get("head"))
    sel = logits[torch.arange(n), torch.tensor(target)]
    sel.backward(sel.detach())  # explicit LXT: relevance starts at the logit and flows in place of gradients
    return tok.grad.sum(-1).numpy(), logits.detach().numpy()


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y, _ = planted_documents(rng, 1200, 12, 30)
    model = keras_transformer()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    ids, labels, _ = planted_documents(np.random.default_rng(1), 64, 12, 30)
    ours = attribute(model, ids, target=labels, composite="attn_lrp", epsilon=EPS)
    theirs, logits = lxt_relevance(model, ids, labels)
    logit_dev = np.abs(logits - np.asarray(model(ids))).max()
    dev = np.abs(ours - theirs).max() / np.abs(theirs).max()
    print(f"PyTorch twin vs Keras logits: max |difference| {logit_dev:.2e}")
    print(f"attn_lrp vs LXT 2.1 (64 documents x 12 tokens, eps={EPS}): max deviation {dev:.2e} of the largest "
          f"relevance; top token agrees in {(ours.argmax(1) == theirs.argmax(1)).mean():.1%} of documents")
    return dev


if __name__ == "__main__":
    sys.exit(0 if main() <= 2e-3 else 1)

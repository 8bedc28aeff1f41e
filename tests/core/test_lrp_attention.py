"""AttnLRP on MultiHeadAttention and Attention against a float64 replica written here from the rules'
definitions (contribution form, never the engine); CP-LRP conservation; a trained transformer text
classifier finds the token that decides its task.
"""
import keras
import numpy as np
import pytest

from tb_nnvis.lrp import LRPError, attribute

L = keras.layers


def stab(z, eps=1e-6):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def softmax(s, keep):
    s = np.where(keep, s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def randomize(layer, rng, scale=0.5):
    layer.set_weights([rng.normal(scale=scale, size=w.shape).astype("float32") for w in layer.get_weights()])


def mha_replica(mha, query, value, key, r_out, keep, cp=False):
    """Relevance of (query, key, value) of a MultiHeadAttention, float64, for output relevance r_out."""
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = ([np.asarray(w, np.float64) for w in d.get_weights()]
                                              for d in (mha._query_dense, mha._key_dense, mha._value_dense,
                                                        mha._output_dense))
    query, value, key = (np.asarray(t, np.float64) for t in (query, value, key))
    q = np.einsum("btd,dnh->btnh", query, wq) + bq
    k = np.einsum("bsd,dnh->bsnh", key, wk) + bk
    v = np.einsum("bsd,dnh->bsnh", value, wv) + bv
    qs = q / np.sqrt(wq.shape[-1])
    scores = np.einsum("btnh,bsnh->bnts", qs, k)
    p = softmax(scores, keep[:, None])
    ctx = np.einsum("bnts,bsnh->btnh", p, v)
    y = np.einsum("btnh,nhe->bte", ctx, wo) + bo

    def eps_in(x, w, z, r, eq_in, eq_back):  # ε-rule through a projection, contribution form
        return np.einsum(eq_back, np.einsum(eq_in, x, w), r / stab(z))

    r_ctx = eps_in(ctx, wo, y, r_out, "btnh,nhe->btnhe", "btnhe,bte->btnh")
    if cp:
        r_v = np.einsum("bnts,bsnh,btnh->bsnh", p, v, r_ctx / stab(ctx))
        r_q = r_k = np.zeros_like(q)
    else:
        share = r_ctx / stab(2 * ctx)  # uniform rule: half to each factor, ε on 2z
        r_p = np.einsum("bnts,bsnh,btnh->bnts", p, v, share)
        r_v = np.einsum("bnts,bsnh,btnh->bsnh", p, v, share)
        r_s = np.where(keep[:, None], scores * (r_p - p * r_p.sum(-1, keepdims=True)), 0.0)  # softmax rule
        share2 = r_s / stab(2 * scores)
        r_q = np.einsum("btnh,bsnh,bnts->btnh", qs, k, share2)  # the 1/√d scaling: identity
        r_k = np.einsum("btnh,bsnh,bnts->bsnh", qs, k, share2)
    r_query = eps_in(query, wq, q, r_q, "btd,dnh->btdnh", "btdnh,btnh->btd")
    r_key = eps_in(key, wk, k, r_k, "bsd,dnh->bsdnh", "bsdnh,bsnh->bsd")
    r_value = eps_in(value, wv, v, r_v, "bsd,dnh->bsdnh", "bsdnh,bsnh->bsd")
    return y, r_query, r_key, r_value


def head_replica(dense, h, target):
    """Output relevance of a Flatten → Dense head, float64: (R at h, logits)."""
    w, b = (np.asarray(t, np.float64) for t in dense.get_weights())
    flat = h.reshape(len(h), -1)
    logits = flat @ w + b
    r = np.zeros_like(logits)
    r[np.arange(len(h)), target] = logits[np.arange(len(h)), target]
    contrib = flat[:, :, None] * w[None]
    return (contrib * (r / stab(logits))[:, None, :]).sum(2).reshape(h.shape), logits


CASES = ["self", "cross", "attention_mask", "causal", "cp_lrp"]


@pytest.mark.parametrize("case", CASES)
def test_multi_head_attention_matches_float64_replica(case):
    rng = np.random.default_rng(CASES.index(case))
    T, S, D = 4, 5 if case == "cross" else 4, 6
    q_in = keras.Input((T, D))
    inputs = [q_in]
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)
    kw = {}
    if case == "cross":
        v_in, k_in = keras.Input((S, D)), keras.Input((S, D))
        inputs += [v_in, k_in]
        out = mha(q_in, v_in, key=k_in)
    elif case == "attention_mask":
        m_in = keras.Input((T, S), dtype="bool")
        inputs.append(m_in)
        out = mha(q_in, q_in, attention_mask=m_in)
    else:
        out = mha(q_in, q_in, use_causal_mask=case == "causal")
        if case == "cp_lrp":
            kw = {"cp_lrp": True}
    dense = L.Dense(3)
    model = keras.Model(inputs, dense(L.Flatten()(out)))
    for layer in (mha._query_dense, mha._key_dense, mha._value_dense, mha._output_dense, dense):
        randomize(layer, rng)
    xs = [rng.normal(size=(2, T, D)).astype("float32")]
    keep = np.ones((2, T, S), bool)
    if case == "cross":
        xs += [rng.normal(size=(2, S, D)).astype("float32") for _ in range(2)]
    elif case == "attention_mask":
        keep = rng.random((2, T, S)) > 0.4
        keep[:, :, 0] = True  # every query sees one key at least
        xs.append(keep)
    elif case == "causal":
        keep = np.broadcast_to(np.tril(np.ones((T, S), bool)), (2, T, S))
    target = np.array([0, 2])
    value = xs[1] if case == "cross" else xs[0]
    key = xs[2] if case == "cross" else xs[0]
    r_out = np.zeros((2, T, D))
    y = mha_replica(mha, xs[0], value, key, r_out, keep)[0]
    r_out, logits = head_replica(dense, y, target)
    np.testing.assert_allclose(logits, np.asarray(model(xs)), rtol=1e-4, atol=1e-4)
    _, r_q, r_k, r_v = mha_replica(mha, xs[0], value, key, r_out, keep, cp=case == "cp_lrp")
    rel = attribute(model, xs if len(xs) > 1 else xs[0], target=target, composite="attn_lrp", **kw)
    rel = rel if isinstance(rel, list) else [rel]
    refs = [r_q, r_v, r_k] if case == "cross" else [r_q + r_k + r_v]
    for got, ref in zip(rel, refs):
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-4 * np.abs(ref).max())
    if case == "attention_mask":
        assert not rel[1].any()  # the boolean mask input takes no relevance


@pytest.mark.parametrize("causal", [False, True])
def test_dot_attention_layer_matches_float64_replica(causal):
    """keras.layers.Attention(use_scale=True) on [query, value, key]: uniform rules, softmax rule, scale as
    identity; the replica is the MultiHeadAttention one with identity projections and one head."""
    rng = np.random.default_rng(11)
    T, D = 4, 3
    q_in, v_in, k_in = keras.Input((T, D)), keras.Input((T, D)), keras.Input((T, D))
    att = L.Attention(use_scale=True)
    dense = L.Dense(2)
    model = keras.Model([q_in, v_in, k_in], dense(L.Flatten()(att([q_in, v_in, k_in], use_causal_mask=causal))))
    att.set_weights([np.array(0.7, "float32")])
    randomize(dense, rng)
    xs = [rng.normal(size=(2, T, D)).astype("float32") for _ in range(3)]
    q, v, k = (x.astype(np.float64) for x in xs)
    keep = np.broadcast_to(np.tril(np.ones((T, T), bool)) if causal else np.ones((T, T), bool), (2, T, T))
    scores = 0.7 * np.einsum("btd,bsd->bts", q, k)
    p = softmax(scores, keep)
    out = np.einsum("bts,bsd->btd", p, v)
    r_out, logits = head_replica(dense, out, np.array([1, 0]))
    np.testing.assert_allclose(logits, np.asarray(model(xs)), rtol=1e-4, atol=1e-4)
    share = r_out / stab(2 * out)
    r_p = np.einsum("bts,bsd,btd->bts", p, v, share)
    r_v = np.einsum("bts,bsd,btd->bsd", p, v, share)
    r_s = np.where(keep, scores * (r_p - p * r_p.sum(-1, keepdims=True)), 0.0)
    raw = scores / 0.7
    share2 = r_s / stab(2 * raw)
    r_q = np.einsum("btd,bsd,bts->btd", q, k, share2)
    r_k = np.einsum("btd,bsd,bts->bsd", q, k, share2)
    rel = attribute(model, xs, target=[1, 0], composite="attn_lrp")
    for got, ref in zip(rel, [r_q, r_v, r_k]):
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-4 * np.abs(ref).max())


def test_attention_written_with_keras_ops_equals_the_attention_layer():
    """q·kᵀ·scale, softmax and p·v as Keras-ops nodes take the same rules under attn_lrp (uniform products,
    constant scaling as identity, AttnLRP softmax) as the Attention layer does."""
    rng = np.random.default_rng(12)
    q_in, v_in = keras.Input((4, 3)), keras.Input((4, 3))
    dense = L.Dense(2)
    att = L.Attention(use_scale=True)
    layer_model = keras.Model([q_in, v_in], dense(L.Flatten()(att([q_in, v_in]))))
    att.set_weights([np.array(0.7, "float32")])
    randomize(dense, rng)
    ops = keras.ops
    p = ops.softmax(ops.matmul(q_in, ops.swapaxes(v_in, -1, -2)) * 0.7, axis=-1)
    ops_model = keras.Model([q_in, v_in], dense(L.Flatten()(ops.matmul(p, v_in))))
    xs = [rng.normal(size=(3, 4, 3)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(np.asarray(ops_model(xs)), np.asarray(layer_model(xs)), rtol=1e-5, atol=1e-6)
    got = attribute(ops_model, xs, target=1, composite="attn_lrp")
    want = attribute(layer_model, xs, target=1, composite="attn_lrp")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5 * np.abs(w).max())


def encoder_classifier(vocab, length, dim=16, heads=2, classes=2, bias=True, mask_zero=False):
    """A small transformer encoder text classifier: token + position embeddings, one block, mean pool."""
    ids = keras.Input((length,), dtype="int32")
    tok = L.Embedding(vocab, dim, mask_zero=mask_zero)(ids)
    positions = keras.ops.cumsum(keras.ops.ones_like(ids), axis=1) - 1
    h = tok + L.Embedding(length, dim)(positions)
    a = L.MultiHeadAttention(heads, dim // heads, use_bias=bias)(h, h)
    h = L.LayerNormalization(center=bias)(h + a)
    f = L.Dense(dim, use_bias=bias)(L.Dense(2 * dim, activation="gelu", use_bias=bias)(h))
    h = L.LayerNormalization(center=bias)(h + f)
    return keras.Model(ids, L.Dense(classes, use_bias=bias)(L.GlobalAveragePooling1D()(h)))


def test_cp_lrp_conserves_on_a_bias_free_transformer():
    """Bias-free, β-free, attention weights constant: every rule conserves, so the relevance of the token
    embeddings plus that absorbed by the (constant) position embeddings equals the logit. We check the
    tokens alone against a model whose position embeddings are zero. ε = 1e-9: at 1e-6 the stabiliser
    itself takes about 1e-4 of the logit here (initial embeddings are ~0.01), not a leak of the rules."""
    keras.utils.set_random_seed(3)
    model = encoder_classifier(20, 6, bias=False)
    pos = [layer for layer in model.layers if isinstance(layer, L.Embedding)][1]
    pos.set_weights([np.zeros_like(w) for w in pos.get_weights()])
    ids = np.random.default_rng(3).integers(0, 20, (4, 6)).astype("int32")
    rel = attribute(model, ids, target=1, composite="attn_lrp", cp_lrp=True, epsilon=1e-9)
    logit = np.asarray(model(ids))[:, 1]
    np.testing.assert_allclose(rel.sum(1), logit, rtol=1e-5, atol=1e-5 * np.abs(logit).max())


def test_padding_mask_from_embedding_gives_padded_tokens_nothing():
    keras.utils.set_random_seed(4)
    model = encoder_classifier(20, 6, mask_zero=True)
    ids = np.random.default_rng(4).integers(1, 20, (3, 6)).astype("int32")
    ids[:, 4:] = 0
    rel = attribute(model, ids, composite="attn_lrp")
    assert np.isfinite(rel).all() and np.abs(rel[:, :4]).sum() > 0
    unmasked = attribute(model, np.where(ids == 0, 5, ids).astype("int32"), composite="attn_lrp")
    assert not np.allclose(rel[:, :4], unmasked[:, :4])  # the mask changed what was attended to


PLANTED = (1, 2)  # token 1 → class 0, token 2 → class 1; every other token is noise


def planted_documents(rng, n, length, vocab):
    ids = rng.integers(3, vocab, (n, length))
    labels = rng.integers(0, 2, n)
    where = rng.integers(0, length, n)
    ids[np.arange(n), where] = np.asarray(PLANTED)[labels]
    return ids.astype("int32"), labels, where


def train_planted_model():
    """A transformer classifier trained on planted documents (about 10 s on 2 cores) and a held-out set."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    length, vocab = 12, 30
    x, y, _ = planted_documents(rng, 1200, length, vocab)
    model = encoder_classifier(vocab, length)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    test = planted_documents(np.random.default_rng(1), 200, length, vocab)
    return model, test


@pytest.fixture(scope="module")
def planted_model():
    return train_planted_model()


def test_planted_token_is_the_most_relevant_in_90_percent_of_held_out_documents(planted_model):
    model, (x, y, where) = planted_model
    assert (np.asarray(model(x)).argmax(1) == y).mean() > 0.95
    rel = attribute(model, x, target=y, composite="attn_lrp")
    assert (rel.argmax(1) == where).mean() >= 0.9


def test_additive_attention_scores_are_a_clear_error():
    q_in = keras.Input((3, 2))
    att = L.Attention(score_mode="concat", name="additive")
    model = keras.Model(q_in, L.Dense(2)(L.Flatten()(att([q_in, q_in]))))
    with pytest.raises(LRPError, match=r"(?s)'additive' \(Attention\) scores by 'concat'.*layer_map"):
        attribute(model, np.ones((1, 3, 2), "float32"), composite="attn_lrp")

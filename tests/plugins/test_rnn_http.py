"""A real ``tensorboard`` process, both loaders: the RNN cells tab is listed and every route answers with
numbers that equal the model's own traces (within the 8-bit quantisation) and the core searches."""
import json

import numpy as np
import pytest

from tb_nnvis.core.rnn import search
from tb_nnvis.core.rnn.traces import traces
from tests import helpers
from tests.plugins.rnn_logs import ODD_TOKENS, XSS_LAYER, rnn_logdir

P = "/data/plugin/nnvis_rnn"


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request):
    data = dict(rnn_logdir(), load_fast=request.param)
    with helpers.tensorboard(data["logdir"], request.param, plugin="nnvis_rnn") as base:
        yield base, data


def values_at(base, run, layer, step):
    """The dequantised values of every kind from /text and /values, ``{kind: [P, T, U]}``."""
    text = helpers.get_json(base, P + "/text", run=run, layer=layer, step=step)
    status, kind, raw = helpers.get(base, P + "/values", run=run, layer=layer, step=step)
    assert status == 200 and kind == "application/octet-stream"
    q = np.frombuffer(raw, np.uint8).reshape(text["shape"])
    out = {}
    for i, k in enumerate(text["kinds"]):
        r = np.array(text["ranges"][k], np.float32)
        v = r[:, 0] + q[i].astype(np.float32) * ((r[:, 1] - r[:, 0]) / 254)
        out[k] = np.where(q[i] == 255, np.nan, v)
    return text, out, {k: (np.array(text["ranges"][k])[:, 1] - np.array(text["ranges"][k])[:, 0]) / 508
                       for k in text["kinds"]}


def test_tab_is_listed_and_tags_describe_the_layers(server):
    base, data = server
    listing = json.loads(helpers.get(base, "/data/plugins_listing")[2])["nnvis_rnn"]
    assert listing["enabled"] and listing["tab_name"] == "RNN cells"
    status, kind, body = helpers.get(base, P + "/index.js")
    assert status == 200 and kind.startswith("text/javascript") and b"render" in body
    tags = helpers.get_json(base, P + "/tags")
    assert tags["runs"]["quote"] == {"lstm": {"cell": "lstm", "units": 8, "kinds": [
        "hidden", "cell", "input_gate", "forget_gate", "output_gate", "candidate"]}}
    assert tags["runs"]["odd"][XSS_LAYER]["cell"] == "gru"
    assert tags["predictions"] == ["quote"]
    steps = helpers.get_json(base, P + "/steps", run="quote", layer="lstm")
    assert [s["step"] for s in steps["steps"]] == [0, 1, 2]
    assert "--samples_per_plugin=nnvis_rnn=" in steps["hint"]
    # the loader's own default for tensor series: the Rust data server keeps 100 steps, the Python loader 10
    assert steps["sample_limit"] == (100 if data["load_fast"] == "true" else 10)


def test_values_equal_the_models_traces_within_quantisation(server):
    base, data = server
    expected = traces(data["model"], data["ids"])["lstm"]   # the weights after training = the last step
    text, got, tol = values_at(base, "quote", "lstm", 2)
    assert text["tokens"] == [list(t) for t in helpers.QUOTE_TEXTS] and text["cell"] == "lstm"
    for kind, ref in expected.items():
        for p, n in enumerate(text["lengths"]):
            assert np.all(np.abs(got[kind][p, :n] - ref[p, :n]) <= tol[kind] + 1e-6), kind


def test_searches_find_the_quote_cell(server):
    base, _ = server
    text = helpers.QUOTE_TEXTS[0]
    start = text.index('"')
    sel = helpers.get_json(base, P + "/select", run="quote", layer="lstm", step=2, probe=0, start=start,
                           end=start + 6, threshold=0.5)
    assert sel["kind"] == "state" and sel["cells"][0]["cell"] == helpers.QUOTE_CELL and sel["cells"][0]["score"] == 1
    pat = helpers.get_json(base, P + "/pattern", run="quote", layer="lstm", step=2, regex=r'"[^"\n]*"')
    assert pat["cells"][0]["cell"] == helpers.QUOTE_CELL
    assert pat["tracks"][0] == search.pattern_track([list(text)], r'"[^"\n]*"')[0].astype(int).tolist()
    match = helpers.get_json(base, P + "/match", run="quote", layer="lstm", step=2, cells="3", threshold=0.5)
    assert [helpers.QUOTE_TEXTS[p][a:b] for p, a, b in match["spans"]] == ['"hello', '"a b c', '"q', '"<b>bold</b>']
    # the numbers are the core's on the served values
    _, values, _ = values_at(base, "quote", "lstm", 2)
    state = np.tanh(values["cell"])
    lengths = [len(t) for t in helpers.QUOTE_TEXTS]
    ref = search.rank_pattern(state, lengths, search.pattern_track([list(t) for t in helpers.QUOTE_TEXTS],
                                                                   r'"[^"\n]*"'), 0.5, top=30)
    for a, b in zip(pat["cells"], ref):
        assert a["cell"] == b["cell"] and a["correlation"] == pytest.approx(b["correlation"], abs=1e-5)


def test_saturation_cell_history_and_predictions(server):
    base, data = server
    _, values, _ = values_at(base, "quote", "lstm", 1)
    lengths = [len(t) for t in helpers.QUOTE_TEXTS]
    sat = helpers.get_json(base, P + "/saturation", run="quote", layer="lstm", step=1)
    assert sorted(sat["gates"]) == ["forget_gate", "input_gate", "output_gate"]
    left, right = search.saturation(values["forget_gate"], lengths)
    np.testing.assert_allclose(sat["gates"]["forget_gate"]["left"], left)
    np.testing.assert_allclose(sat["gates"]["forget_gate"]["right"], right)
    cell = helpers.get_json(base, P + "/cell", run="quote", layer="lstm", kind="hidden", cell=3, probe=1)
    assert cell["steps"] == [0, 1, 2] and len(cell["values"][1]) == lengths[1]
    np.testing.assert_allclose(cell["values"][1], values["hidden"][1, :lengths[1], 3], atol=1e-6)
    pred = helpers.get_json(base, P + "/predictions", run="quote", step=2, probe=0)
    logits = np.asarray(data["model"](data["ids"]))[0]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    assert pred["k"] == 5 and len(pred["top"]) == lengths[0]
    for t in (0, 5, 12):
        best = np.argsort(-probs[t])[:5]
        assert [tok for tok, _ in pred["top"][t]] == [data["vocab"][i] for i in best]
        np.testing.assert_allclose([p for _, p in pred["top"][t]], probs[t, best], atol=2e-3)


def test_html_names_nan_and_padding_come_back_as_data(server):
    base, _ = server
    text, values, _ = values_at(base, "odd", XSS_LAYER, 5)
    assert text["tokens"] == ODD_TOKENS and text["lengths"] == [4, 2]
    assert np.isnan(values["hidden"][0, 1, 2]) and np.isnan(values["hidden"][0, 2, 2])
    assert np.isnan(values["update_gate"][0, 0, 0]) and not np.isnan(values["update_gate"][0, 0, 1])
    sel = helpers.get_json(base, P + "/select", run="odd", layer=XSS_LAYER, step=5, probe=0, start=1, end=3)
    assert sel["kind"] == "state" and len(sel["cells"]) == 5


@pytest.mark.parametrize("path,params,code,message", [
    ("/text", {"run": "nope", "layer": "lstm", "step": 0}, 404, "no RNN traces for run 'nope'"),
    ("/text", {"run": "quote", "layer": "nope", "step": 0}, 404, "no recurrent layer 'nope'"),
    ("/text", {"run": "quote", "layer": "lstm", "step": 7}, 404, "step 7 of layer 'lstm'"),
    ("/text", {"run": "quote", "layer": "lstm", "step": "x"}, 400, "must be an integer"),
    ("/text", {"run": "malformed", "layer": "broken", "step": 0}, 400, "values blob is not zlib data"),
    ("/pattern", {"run": "quote", "layer": "lstm", "step": 0, "regex": "("}, 400, "invalid regular expression"),
    ("/select", {"run": "quote", "layer": "lstm", "step": 0, "start": 0, "end": 2, "kind": "forget"}, 400,
     "no trace 'forget'"),
    ("/select", {"run": "quote", "layer": "lstm", "step": 0, "start": 0, "end": 2, "threshold": "high"}, 400,
     "must be a number"),
    ("/select", {"run": "quote", "layer": "lstm", "step": 0, "start": 5, "end": 5}, 404, "out of range"),
    ("/match", {"run": "quote", "layer": "lstm", "step": 0, "cells": "3,99"}, 404, "cells must be in [0, 7]"),
    ("/match", {"run": "quote", "layer": "lstm", "step": 0, "cells": "a"}, 400, "comma-separated"),
    ("/cell", {"run": "quote", "layer": "lstm", "cell": 8}, 404, "cell 8 is out of range"),
    ("/predictions", {"run": "odd"}, 404, "has no next-token predictions"),
])
def test_bad_requests_get_clear_messages(server, path, params, code, message):
    base, _ = server
    status, kind, body = helpers.get(base, P + path, **params)
    assert status == code and kind.startswith("application/json"), (status, body[:200])
    assert message in json.loads(body)["error"]

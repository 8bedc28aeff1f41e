"""Cell search: a hand-built quote cell is found by the pattern search and by span selection, and the
rankings' numbers equal direct computations."""
import numpy as np
import pytest

from tb_nnvis.core.rnn import search
from tb_nnvis.core.rnn.traces import traces
from tests import helpers

QUOTED = r'"[^"\n]*"'


@pytest.fixture(scope="module")
def quote_state():
    model, _ = helpers.quote_lstm()
    t = traces(model, helpers.quote_ids())["lstm"]
    lengths = [len(s) for s in helpers.QUOTE_TEXTS]
    return np.tanh(t["cell"]), lengths, [list(s) for s in helpers.QUOTE_TEXTS], t


def test_the_hand_built_cell_is_on_exactly_inside_quotes(quote_state):
    state, lengths, tokens, _ = quote_state
    text = helpers.QUOTE_TEXTS[0]
    cell = state[0, :len(text), helpers.QUOTE_CELL]
    inside = np.zeros(len(text), bool)
    quotes = [i for i, ch in enumerate(text) if ch == '"']
    for a, b in zip(quotes[::2], quotes[1::2]):
        inside[a:b] = True  # on from the opening quote to the character before the closing one
    before = np.arange(len(text)) < quotes[0]  # the state starts at 0, before the first quote
    assert np.all(cell[inside] > 0.7) and np.all(cell[~inside & ~before] < -0.7)
    assert np.all(np.abs(cell[before]) < 0.01)


def test_pattern_search_ranks_the_quote_cell_first(quote_state):
    state, lengths, tokens, _ = quote_state
    tracks = search.pattern_track(tokens, QUOTED)
    ranked = search.rank_pattern(state, lengths, tracks, threshold=0.5)
    assert ranked[0]["cell"] == helpers.QUOTE_CELL and ranked[0]["correlation"] > 0.7
    assert abs(ranked[1]["correlation"]) < 0.5 and ranked[0]["recall"] > 0.8
    # every number against a direct computation on the real steps
    v = np.concatenate([state[p, :n] for p, n in enumerate(lengths)])
    y = np.concatenate(tracks)
    for r in ranked:
        c = r["cell"]
        corr = np.corrcoef(v[:, c], y)[0, 1]
        assert r["correlation"] == pytest.approx(corr, abs=1e-9)
        on = r["sign"] * v[:, c] > 0.5
        assert r["precision"] == pytest.approx((on & (y > 0)).sum() / max(on.sum(), 1))
        assert r["recall"] == pytest.approx((on & (y > 0)).sum() / (y > 0).sum())
    assert [abs(r["correlation"]) for r in ranked] == sorted((abs(r["correlation"]) for r in ranked), reverse=True)


def test_span_selection_ranks_the_quote_cell_first_and_matches_the_other_quotes(quote_state):
    state, lengths, _, _ = quote_state
    text = helpers.QUOTE_TEXTS[0]
    start = text.index('"')
    ranked = search.rank_span(state, lengths, probe=0, start=start, end=start + 6, threshold=0.5)  # "hello
    assert ranked[0]["cell"] == helpers.QUOTE_CELL and ranked[0]["score"] == 1.0 and ranked[1]["score"] < 0.8
    # only the inner word: the opening quote around it is on too, so 9 of the 10 steps around are off
    ranked = search.rank_span(state, lengths, probe=0, start=start + 1, end=start + 6, threshold=0.5)
    assert ranked[0]["cell"] == helpers.QUOTE_CELL and ranked[0]["score"] == pytest.approx(0.9)
    spans = search.match_spans(state, lengths, [helpers.QUOTE_CELL], threshold=0.5)
    found = [helpers.QUOTE_TEXTS[p][a:b] for p, a, b in spans]
    assert found == ['"hello', '"a b c', '"q', '"<b>bold</b>']


def test_rank_span_numbers_and_errors():
    v = np.array([[[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [9.0, 9.0]]])  # step 4 is padding
    ranked = {r["cell"]: r for r in search.rank_span(v, [4], 0, 1, 3, threshold=0.5, context=1)}
    assert ranked[0] == {"cell": 0, "score": 1.0, "on_inside": 1.0, "off_around": 1.0, "gap": 1.0}
    assert ranked[1]["on_inside"] == 0.5 and ranked[1]["off_around"] == 0.5 and ranked[1]["score"] == 0.0
    with pytest.raises(ValueError, match="holds no step"):
        search.rank_span(v, [4], 0, 4, 5)


def test_pattern_track_groups_words_and_bad_expressions():
    assert search.pattern_track([list("if a:\n b")], r"if (.*):")[0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert search.pattern_track([list("ab\ncdef")], r"(?m)^.{2}(.*)$")[0].tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert search.pattern_track([["if", "x", "then"]], r"x")[0].tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="invalid regular expression"):
        search.pattern_track([["a"]], "(")


def test_saturation_of_the_quote_cells_gates(quote_state):
    _, lengths, _, t = quote_state
    left, right = search.saturation(t["forget_gate"], lengths)
    g = np.concatenate([t["forget_gate"][p, :n] for p, n in enumerate(lengths)])
    np.testing.assert_allclose(left, (g < 0.1).mean(0))
    np.testing.assert_allclose(right, (g > 0.9).mean(0))
    quotes = sum(s.count('"') for s in helpers.QUOTE_TEXTS)
    assert left[helpers.QUOTE_CELL] == pytest.approx(quotes / len(g))
    assert right[helpers.QUOTE_CELL] == pytest.approx(1 - quotes / len(g))

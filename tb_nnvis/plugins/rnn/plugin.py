"""The RNN cells dashboard's backend: routes that read through TensorBoard's data provider.

Routes (GET; JSON unless noted; errors are 4xx ``{"error": message}``). ``kind`` is a trace kind of the
layer (``hidden``, ``cell``, a gate) or ``state``: tanh of the cell state for an LSTM, as in Karpathy et
al. 2015, and the hidden state otherwise. ``threshold`` is the value above which a cell is "on".

- ``/index.js``, ``/static/<path>``: the frontend.
- ``/tags``: ``{"runs": {run: {layer: {cell, units, kinds}}}, "predictions": [runs]}``.
- ``/steps?run&layer``: loaded steps, the sampling limit and how to raise it.
- ``/text?run&layer&step``: the probes' tokens and lengths, the kinds, each kind's per-cell ranges and the
  shape of ``/values``.
- ``/values?run&layer&step``: the quantised values, raw uint8 ``[K, P, T, U]`` (decode with the ranges).
- ``/select?run&layer&step&kind&probe&start&end&threshold``: cells on inside ``[start, end)`` and off
  around it, best first (LSTMVis's select view).
- ``/match?run&layer&step&kind&cells&threshold``: ``[[probe, start, end]]`` where the cells (comma
  separated) are on together (LSTMVis's match view).
- ``/pattern?run&layer&step&kind&regex&threshold``: the regex's 0/1 track per probe and the cells that
  follow it best.
- ``/saturation?run&layer&step``: per gate, each cell's fraction of left- and right-saturated steps.
- ``/cell?run&layer&kind&cell&probe``: one cell over the probe at every loaded step.
- ``/predictions?run&step&probe``: the top next tokens at each position (latest step at or before ``step``).
"""
import numpy as np

from tb_nnvis.core.rnn import search
from tb_nnvis.plugins import _reader, _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.rnn import encoding, metadata

_JSON, _BIN = "application/json", "application/octet-stream"
TOP_CELLS = 30


class RNNCellsPlugin(_server.DashboardPlugin):
    """What each LSTM/GRU cell tracks over probe texts, and finding the cell that follows a pattern."""

    plugin_name = metadata.PLUGIN_NAME
    tab_name = "RNN cells"

    def __init__(self, context):
        self._reader = _reader.Reader(context.data_provider, metadata.PLUGIN_NAME, metadata.parse_plugin_metadata,
                                      tensor_kinds=metadata.KINDS)
        self._hints = context.sampling_hints
        self._cache = _server.LRUCache(64)

    def get_plugin_apps(self):
        return {
            **_server.frontend_apps("rnn"),
            "/tags": self._serve_tags,
            "/steps": self._serve_steps,
            "/text": self._serve_text,
            "/values": self._serve_values,
            "/select": self._serve_select,
            "/match": self._serve_match,
            "/pattern": self._serve_pattern,
            "/saturation": self._serve_saturation,
            "/cell": self._serve_cell,
            "/predictions": self._serve_predictions,
        }

    # ---- reading -------------------------------------------------------------------------------

    def _series(self, request, kind):
        return self._reader.by_layer(request, kind)

    def _layer(self, request):
        """``(params, run, tag)`` of the traces series a request names; 404 when it does not exist."""
        params = Params(request)
        run, layer = params.str("run"), params.str("layer")
        series = self._series(request, metadata.TRACES)
        if run not in series:
            raise not_found(f"no RNN traces for run {run!r}")
        if layer not in series[run]:
            raise not_found(f"no recurrent layer {layer!r} in run {run!r}")
        return params, run, series[run][layer][0]

    def _read(self, request, run, tag):
        return self._reader.read(request, run, tag, metadata.TRACES)

    def _decoded(self, run, tag, datum):
        def load():
            try:
                return encoding.decode_traces(list(np.asarray(datum.numpy, dtype=object).ravel()))
            except ValueError as e:
                raise bad_request(f"malformed RNN traces of {tag!r} at step {datum.step}: {e}") from None

        return self._cache.get((run, tag, datum.step, datum.wall_time), load)

    def _step(self, request):
        """``(params, run, tag, decoded)`` of the step a request names."""
        params, run, tag = self._layer(request)
        datums = self._read(request, run, tag)
        datum = _reader.at_step(datums, params.int("step"), f"layer {tag!r} in run {run!r}")
        return params, run, tag, self._decoded(run, tag, datum)

    def _kind_values(self, params, dec, probe=None, cell=None):
        """The request's ``kind`` (default ``state``) and its values: all, or one cell over one probe."""
        kind = params.args.get("kind") or "state"
        try:
            return kind, dec.values(kind, probe, cell)
        except KeyError as e:
            raise bad_request(str(e.args[0])) from None

    # ---- routes --------------------------------------------------------------------------------

    @route
    def _serve_tags(self, request):
        runs = {run: {layer: {"cell": c.get("cell"), "units": c.get("units"), "kinds": c.get("traces", [])}
                      for layer, (_, c) in layers.items()}
                for run, layers in self._series(request, metadata.TRACES).items()}
        return {"runs": runs, "predictions": sorted(self._series(request, metadata.PREDICTIONS))}, _JSON

    @route
    def _serve_steps(self, request):
        _, run, tag = self._layer(request)
        datums = self._read(request, run, tag)
        limit = _server.sample_limit(self._hints, metadata.PLUGIN_NAME, "tensor", self._reader.provider)
        return {"steps": [{"step": d.step, "wall_time": d.wall_time} for d in datums], "sample_limit": limit,
                "hint": _server.sample_hint(metadata.PLUGIN_NAME, len(datums))}, _JSON

    @route
    def _serve_text(self, request):
        _, _, _, dec = self._step(request)
        h = dec.header
        return {"tokens": h["tokens"], "lengths": h["lengths"], "kinds": h["kinds"], "cell": h.get("cell"),
                "shape": [len(h["kinds"])] + list(h["shape"]),
                "ranges": {k: dec.ranges[i] for i, k in enumerate(h["kinds"])}}, _JSON

    @route
    def _serve_values(self, request):
        _, _, _, dec = self._step(request)
        return dec.q.tobytes(), _BIN

    @route
    def _serve_select(self, request):
        params, _, _, dec = self._step(request)
        kind, values = self._kind_values(params, dec)
        lengths = dec.header["lengths"]
        probe = params.int("probe", 0, len(lengths) - 1, default=0)
        start = params.int("start", 0, lengths[probe] - 1)
        end = params.int("end", start + 1, lengths[probe])
        threshold = params.float("threshold", 0.5)
        ranked = search.rank_span(values, lengths, probe, start, end, threshold, top=TOP_CELLS)
        return {"kind": kind, "probe": probe, "start": start, "end": end, "threshold": threshold,
                "cells": ranked}, _JSON

    @route
    def _serve_match(self, request):
        params, _, _, dec = self._step(request)
        kind, values = self._kind_values(params, dec)
        raw = params.str("cells")
        try:
            cells = [int(c) for c in raw.split(",") if c.strip()]
        except ValueError:
            raise bad_request(f"cells must be comma-separated cell numbers, got {raw!r}") from None
        threshold = params.float("threshold", 0.5)
        try:
            spans = search.match_spans(values, dec.header["lengths"], cells, threshold)
        except ValueError as e:
            raise not_found(str(e)) from None
        return {"kind": kind, "cells": cells, "threshold": threshold, "spans": spans}, _JSON

    @route
    def _serve_pattern(self, request):
        params, _, _, dec = self._step(request)
        kind, values = self._kind_values(params, dec)
        regex = params.str("regex")
        if len(regex) > 500:
            raise bad_request("the regular expression is longer than 500 characters")
        threshold = params.float("threshold", 0.5)
        try:
            tracks = search.pattern_track(dec.header["tokens"], regex)
        except ValueError as e:
            raise bad_request(str(e)) from None
        hits = int(sum(t.sum() for t in tracks))
        ranked = search.rank_pattern(values, dec.header["lengths"], tracks, threshold, top=TOP_CELLS) if hits else []
        return {"kind": kind, "regex": regex, "threshold": threshold, "matched_tokens": hits,
                "tracks": [t.astype(int) for t in tracks], "cells": ranked}, _JSON

    @route
    def _serve_saturation(self, request):
        params, _, _, dec = self._step(request)
        low, high = params.float("low", 0.1), params.float("high", 0.9)
        gates = {}
        for kind in dec.header["kinds"]:
            if kind in encoding.GATES:
                left, right = search.saturation(dec.values(kind), dec.header["lengths"], low, high)
                gates[kind] = {"left": left, "right": right}
        return {"low": low, "high": high, "gates": gates}, _JSON

    @route
    def _serve_cell(self, request):
        params, run, tag = self._layer(request)
        datums = self._read(request, run, tag)
        if not datums:
            raise not_found(f"no steps loaded for layer {tag!r} in run {run!r}")
        decoded = [self._decoded(run, tag, d) for d in datums]
        last = decoded[-1].header
        probe = params.int("probe", 0, len(last["lengths"]) - 1, default=0)
        cell = params.int("cell", 0, last["shape"][2] - 1)
        steps, rows = [], []
        for d, dec in zip(datums, decoded):
            if dec.header["shape"] != last["shape"] or dec.header["tokens"] != last["tokens"]:
                continue  # other probes at that step: not comparable
            kind, values = self._kind_values(params, dec, probe, cell)
            steps.append(d.step)
            rows.append(values[:last["lengths"][probe]])
        return {"kind": kind, "cell": cell, "probe": probe, "steps": steps, "values": rows}, _JSON

    @route
    def _serve_predictions(self, request):
        params = Params(request)
        run = params.str("run")
        series = self._series(request, metadata.PREDICTIONS).get(run)
        if not series:
            raise not_found(f"run {run!r} has no next-token predictions")
        tag = next(iter(series.values()))[0]
        datums = self._reader.read(request, run, tag, metadata.PREDICTIONS)
        if not datums:
            raise not_found(f"run {run!r} has no next-token predictions loaded")
        datum = _reader.at_or_before(datums, params.int("step", default=datums[-1].step))
        try:
            dec = encoding.decode_predictions(list(np.asarray(datum.numpy, dtype=object).ravel()))
        except ValueError as e:
            raise bad_request(f"malformed predictions at step {datum.step}: {e}") from None
        probe = params.int("probe", 0, len(dec["top"]) - 1, default=0)
        return {"step": datum.step, "k": dec["k"], "probe": probe, "top": dec["top"][probe]}, _JSON

"""The Relevance dashboard's backend: routes that read through TensorBoard's data provider.

Routes (GET; JSON unless noted; errors are 4xx ``{"error": message}``):

- ``/index.js``, ``/static/<path>``: the frontend.
- ``/tags``: ``{"runs": {run: {name: {kind, composites, probes, units: {composite: [layers]},
  unit_heatmaps: {composite: [layers]}}}}, "unit_heatmaps": {run: {layer: {name, composite, composites}}}}``.
- ``/steps?run&name&composite``: loaded steps, the sampling limit and how to raise it.
- ``/data?run&name&composite&step``: header (targets, labels, class names, shape, tokens), scores, sums;
  for text also the relevance ``[P][T][L]`` (NaN past a document's end).
- ``/relevance?run&name&composite&step&probe``: image relevance, float32 ``[T, H, W]`` little-endian bytes.
- ``/input?run&name&composite&step&probe``: the probe image as PNG.
- ``/units?run&name&composite&layer&step&probe``: each target's relevance per unit of a layer.
- ``/unit_heatmap?run&layer&step&probe&unit[&composite]``: the unit's input heatmap at the latest logged step
  ≤ step, by the first logged method (an LRP composite or ``gradient_x_input``) or the one named.
- ``/spray/*``: SpRAy of whole classes (the Strategies view); see :mod:`.spray_routes`.
"""
import numpy as np

from tb_nnvis.plugins import _reader, _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.relevance import encoding, metadata
from tb_nnvis.plugins.relevance.spray_routes import SprayRoutes

_JSON, _PNG, _JS, _BIN = "application/json", "image/png", "text/javascript", "application/octet-stream"


class RelevancePlugin(_server.DashboardPlugin):
    """LRP heatmaps of fixed probe inputs (images and text) over training, and the units that carry them."""

    plugin_name = metadata.PLUGIN_NAME
    tab_name = "Relevance"

    def __init__(self, context):
        self._reader = _reader.Reader(context.data_provider, metadata.PLUGIN_NAME, metadata.parse_plugin_metadata,
                                      metadata.TENSOR_KINDS)
        self._hints = context.sampling_hints

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index, "/static/*": self._serve_static, "/tags": self._serve_tags,
            "/steps": self._serve_steps, "/data": self._serve_data, "/relevance": self._serve_relevance,
            "/input": self._serve_input, "/units": self._serve_units, "/unit_heatmap": self._serve_unit_heatmap,
            **SprayRoutes(self._reader).apps(),
        }

    # ---- reading -------------------------------------------------------------------------------

    def _find(self, request, kinds, run, what, **match):
        """``(tag, content)`` of the series of ``run`` whose content matches; 404 naming what is missing."""
        series = self._reader.series(request, kinds).get(run)
        if not series:
            raise not_found(f"no relevance data for run {run!r}")
        for tag, content in series:
            if all(content.get(k) == v for k, v in match.items()):
                return tag, content
        raise not_found(f"no {what} in run {run!r}")

    def _main(self, request):
        """``(params, run, datums, content)`` of the image/text series the request names."""
        params = Params(request)
        run, name, composite = params.str("run"), params.str("name"), params.str("composite")
        tag, content = self._find(request, metadata.MAIN_KINDS, run,
                                  f"probe set {name!r} with composite {composite!r}", name=name, composite=composite)
        return params, run, tag, content

    def _main_at_step(self, request):
        params, run, tag, content = self._main(request)
        datums = self._reader.read(request, run, tag, content["kind"])
        datum = _reader.at_step(datums, params.int("step"), f"{tag!r} in run {run!r}")
        return params, datum, self._decoded(request, datum, content["kind"])

    def _decoded(self, request, datum, kind):
        """``{header, scores, sums, relevance}`` of one step, cached by its header's blob key."""
        values = datum.values
        if len(values) < metadata.FIRST_PNG:
            raise bad_request(f"malformed relevance data at step {datum.step}: {len(values)} blobs")

        def load():
            try:
                header = encoding.decode_header(self._reader.blob(request, values[metadata.HEADER]))
                p, t = header["shape"][:2]
                scores = encoding.decode_array(self._reader.blob(request, values[metadata.SCORES]),
                                               (p, int(header["classes"])), what="scores")
                sums = encoding.decode_array(self._reader.blob(request, values[metadata.SUMS]), (p, t), what="sums")
                rel = encoding.decode_array(self._reader.blob(request, values[metadata.RELEVANCE]), header["shape"])
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed relevance data at step {datum.step}: {e}") from None
            if kind == metadata.IMAGE and len(values) - metadata.FIRST_PNG != p:
                raise bad_request(f"malformed relevance data at step {datum.step}: "
                                  f"{len(values) - metadata.FIRST_PNG} images for {p} probes")
            return {"header": header, "scores": scores, "sums": sums, "relevance": rel}

        return self._reader.cache.get(values[metadata.HEADER].blob_key, load)

    # ---- routes --------------------------------------------------------------------------------

    @route
    def _serve_index(self, request):
        return _server.static_file("relevance/index.js")[0], _JS

    @route
    def _serve_static(self, request):
        path = request.path
        return _server.static_file(path[path.index("/static/") + len("/static/"):])

    @route
    def _serve_tags(self, request):
        runs, heatmaps = {}, {}
        for run, series in self._reader.series(request, metadata.KINDS).items():
            for _, c in series:
                if c["kind"] in metadata.MAIN_KINDS:
                    entry = runs.setdefault(run, {}).setdefault(c["name"], {
                        "kind": c["kind"], "composites": [], "probes": (c.get("shape") or [None])[0],
                        "units": {}, "unit_heatmaps": {}})
                    if c["composite"] not in entry["composites"]:
                        entry["composites"].append(c["composite"])
            for _, c in series:
                entry = runs.get(run, {}).get(c["name"])
                if c["kind"] in (metadata.UNITS, metadata.UNIT_HEATMAPS) and entry is not None:
                    layers = entry[c["kind"]].setdefault(c["composite"], [])
                    if c["layer"] not in layers:
                        layers.append(c["layer"])
                if c["kind"] == metadata.UNIT_HEATMAPS:
                    where = heatmaps.setdefault(run, {}).setdefault(c["layer"], {
                        "name": c["name"], "composite": c["composite"], "composites": []})
                    if c["composite"] not in where["composites"]:
                        where["composites"].append(c["composite"])
        return {"runs": runs, "unit_heatmaps": heatmaps}, _JSON

    @route
    def _serve_steps(self, request):
        _, run, tag, content = self._main(request)
        datums = self._reader.read(request, run, tag, content["kind"])
        limit = _server.sample_limit(self._hints, metadata.PLUGIN_NAME, "blob_sequence")
        return {"steps": [{"step": d.step, "wall_time": d.wall_time} for d in datums], "sample_limit": limit,
                "hint": _server.sample_hint(metadata.PLUGIN_NAME, len(datums))}, _JSON

    @route
    def _serve_data(self, request):
        _, datum, d = self._main_at_step(request)
        h = d["header"]
        out = {"step": datum.step, "kind": h["kind"], "shape": h["shape"], "targets": h["targets"],
               "labels": h.get("labels"), "class_names": h.get("class_names"), "composite": h.get("composite"),
               "scores": d["scores"], "sums": d["sums"]}
        if h["kind"] == metadata.TEXT:
            out["tokens"] = h.get("tokens") or []
            out["relevance"] = d["relevance"]
        return out, _JSON

    @route
    def _serve_relevance(self, request):
        params, _, d = self._main_at_step(request)
        if d["header"]["kind"] != metadata.IMAGE:
            raise bad_request("/relevance serves image relevance; text relevance comes with /data")
        probe = params.int("probe", 0, d["header"]["shape"][0] - 1)
        return np.ascontiguousarray(d["relevance"][probe], dtype="<f4").tobytes(), _BIN

    @route
    def _serve_input(self, request):
        params, datum, d = self._main_at_step(request)
        if d["header"]["kind"] != metadata.IMAGE:
            raise bad_request("text probes have no input image")
        probe = params.int("probe", 0, d["header"]["shape"][0] - 1)
        return self._reader.blob(request, datum.values[metadata.FIRST_PNG + probe]), _PNG

    @route
    def _serve_units(self, request):
        params = Params(request)
        run, name, composite, layer = (params.str(k) for k in ("run", "name", "composite", "layer"))
        tag, _ = self._find(request, metadata.UNITS, run, f"unit relevance of layer {layer!r} for {name!r}",
                            name=name, composite=composite, layer=layer)
        datums = self._reader.read(request, run, tag, metadata.UNITS)
        datum = _reader.at_step(datums, params.int("step"), f"unit relevance of {layer!r} in run {run!r}")
        values = np.asarray(datum.numpy, dtype=np.float32)
        if values.ndim != 3 or values.shape[2] < 2:
            raise bad_request(f"malformed unit relevance at step {datum.step}: shape {list(values.shape)}")
        probe = params.int("probe", 0, values.shape[0] - 1)
        return {"step": datum.step, "layer": layer, "targets": values[probe, :, 0].astype(int),
                "values": values[probe, :, 1:]}, _JSON

    @route
    def _serve_unit_heatmap(self, request):
        params = Params(request)
        run, layer = params.str("run"), params.str("layer")
        # the first logged method (an LRP composite, or gradient_x_input) unless one is asked for
        match = {"layer": layer, **({"composite": params.str("composite")} if request.args.get("composite") else {})}
        tag, content = self._find(request, metadata.UNIT_HEATMAPS, run,
                                  f"unit heatmaps of layer {layer!r}" + (f" by {match['composite']!r}"
                                                                         if "composite" in match else ""), **match)
        datums = self._reader.read(request, run, tag, metadata.UNIT_HEATMAPS)
        datum = _reader.at_or_before(datums, params.int("step"))
        if datum is None or len(datum.values) <= metadata.HM_VALUES:
            raise not_found(f"no unit heatmaps of layer {layer!r} loaded in run {run!r}")

        def load():
            try:
                header = encoding.decode_header(self._reader.blob(request, datum.values[metadata.HEADER]))
                shape = header["shape"]
                scales = encoding.decode_array(self._reader.blob(request, datum.values[metadata.HM_SCALES]),
                                               shape[:2], what="scales")
                values = encoding.decode_array(self._reader.blob(request, datum.values[metadata.HM_VALUES]),
                                               shape, dtype="<f2", what="heatmaps")
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed unit heatmaps at step {datum.step}: {e}") from None
            return header, scales, values

        header, scales, values = self._reader.cache.get(datum.values[metadata.HEADER].blob_key, load)
        probe = params.int("probe", 0, header["shape"][0] - 1)
        unit = params.int("unit", 0)
        if unit not in header["units"]:
            raise not_found(f"unit {unit} of layer {layer!r} has no heatmap (logged units: "
                            f"{', '.join(map(str, header['units'][:30]))})")
        j = header["units"].index(unit)
        heat = values[probe, j].astype(np.float32) * scales[probe, j]
        return {"step": datum.step, "steps": [d.step for d in datums], "name": content["name"],
                "composite": content["composite"], "layer": layer, "unit": unit, "probe": probe,
                "shape": list(heat.shape), "values": heat.reshape(-1)}, _JSON

"""The Feature visualization dashboard's backend: routes that read through TensorBoard's data provider.

Routes (GET; JSON unless noted; errors are 4xx ``{"error": message}``). ``kind`` is ``images`` (default)
or ``diversity``.

- ``/index.js``, ``/static/<path>``: the frontend.
- ``/tags``: ``{"runs": {run: {layer: {"units", "shape", "diversity"}}}}``.
- ``/steps?run&layer[&kind]``: loaded steps with wall times, the sampling limit and how to raise it.
- ``/grid?run&layer&step[&kind]``: the units, origins, values, atlas grid, image shape, value range and
  objective of one step.
- ``/atlas?run&layer&step[&kind][&which=images|transparency]``: the atlas PNG.
- ``/unit?run&layer&unit[&kind]``: the unit's tile index and value at every loaded step (the filmstrip).
"""

from tb_nnvis.plugins import _reader, _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.featvis import encoding, metadata

_JSON, _PNG = "application/json", "image/png"


class FeatureVisPlugin(_server.DashboardPlugin):
    """Synthesized images of every unit of a layer, over training."""

    plugin_name = metadata.PLUGIN_NAME
    tab_name = "Feature visualization"

    def __init__(self, context):
        self._reader = _reader.Reader(context.data_provider, metadata.PLUGIN_NAME, metadata.parse_plugin_metadata)
        self._hints = context.sampling_hints
        self._cache = _server.LRUCache(256)

    def get_plugin_apps(self):
        return {
            **_server.frontend_apps("featvis"),
            "/tags": self._serve_tags,
            "/steps": self._serve_steps,
            "/grid": self._serve_grid,
            "/atlas": self._serve_atlas,
            "/unit": self._serve_unit,
        }

    # ---- reading -------------------------------------------------------------------------------

    def _series(self, request, kind):
        return self._reader.by_layer(request, kind)

    def _layer(self, request):
        """``(params, run, layer, tag, kind)`` of the series a request names; 404 when it does not exist."""
        params = Params(request)
        run, layer = params.str("run"), params.str("layer")
        kind = params.args.get("kind") or metadata.IMAGES
        if kind not in metadata.KINDS:
            raise bad_request(f"kind must be one of {list(metadata.KINDS)}, got {kind!r}")
        series = self._series(request, kind)
        if run not in series:
            raise not_found(f"no feature visualizations ({kind}) for run {run!r}")
        if layer not in series[run]:
            raise not_found(f"no feature visualizations ({kind}) of layer {layer!r} in run {run!r}")
        return params, run, layer, series[run][layer][0], kind

    def _decoded(self, request, run, tag, datum):
        """``(header, values)`` of one step, cached."""
        def load():
            if len(datum.values) <= metadata.TRANSPARENCY:
                raise bad_request(f"malformed feature visualization of {tag!r} at step {datum.step}: "
                                  f"{len(datum.values)} blobs")
            try:
                header = encoding.decode_header(self._reader.blob(request, datum.values[metadata.HEADER]))
                values = encoding.decode_values(self._reader.blob(request, datum.values[metadata.VALUES]),
                                                len(header["units"]))
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed feature visualization of {tag!r} at step {datum.step}: {e}") from None
            return header, values

        return self._cache.get((run, tag, datum.step, datum.values[metadata.HEADER].blob_key), load)

    def _at_step(self, request):
        params, run, layer, tag, kind = self._layer(request)
        datums = self._reader.read(request, run, tag, kind)
        datum = _reader.at_step(datums, params.int("step"), f"layer {layer!r} in run {run!r}")
        return params, run, tag, datum

    # ---- routes --------------------------------------------------------------------------------

    @route
    def _serve_tags(self, request):
        diversity = self._series(request, metadata.DIVERSITY)
        runs = {run: {layer: {"units": (c.get("shape") or [None])[0], "shape": c.get("shape"),
                              "diversity": layer in diversity.get(run, {})}
                      for layer, (_, c) in layers.items()}
                for run, layers in self._series(request, metadata.IMAGES).items()}
        return {"runs": runs}, _JSON

    @route
    def _serve_steps(self, request):
        _, run, _, tag, kind = self._layer(request)
        datums = self._reader.read(request, run, tag, kind)
        limit = _server.sample_limit(self._hints, metadata.PLUGIN_NAME, "blob_sequence")
        return {"steps": [{"step": d.step, "wall_time": d.wall_time} for d in datums],
                "sample_limit": limit, "hint": _server.sample_hint(metadata.PLUGIN_NAME, len(datums))}, _JSON

    @route
    def _serve_grid(self, request):
        _, run, tag, datum = self._at_step(request)
        header, values = self._decoded(request, run, tag, datum)
        return {"step": datum.step, "units": header["units"], "origin": header.get("origin", header["units"]),
                "values": values, "grid": header["grid"], "shape": header["shape"],
                "value_range": header.get("value_range"), "objective": header.get("objective"),
                "transparency": bool(header.get("transparency"))}, _JSON

    @route
    def _serve_atlas(self, request):
        params, run, tag, datum = self._at_step(request)
        which = params.args.get("which") or "images"
        if which not in ("images", "transparency"):
            raise bad_request(f"which must be 'images' or 'transparency', got {which!r}")
        self._decoded(request, run, tag, datum)  # checks the blobs are ours
        blob = self._reader.blob(request, datum.values[metadata.ATLAS if which == "images" else metadata.TRANSPARENCY])
        if not blob:
            raise not_found(f"no transparency maps were written for {tag!r} at step {datum.step}")
        return blob, _PNG

    @route
    def _serve_unit(self, request):
        params, run, layer, tag, kind = self._layer(request)
        unit = params.int("unit", 0)
        rows = []
        for datum in self._reader.read(request, run, tag, kind):
            header, values = self._decoded(request, run, tag, datum)
            tiles = [i for i, u in enumerate(header["units"]) if u == unit]
            if tiles:
                rows.append({"step": datum.step, "tiles": tiles, "values": values[tiles], "grid": header["grid"],
                             "shape": header["shape"]})
        if not rows:
            raise not_found(f"unit {unit} of layer {layer!r} has no feature visualization in run {run!r}")
        return {"unit": unit, "steps": rows}, _JSON

"""The Relevance plugin's SpRAy routes (the "Strategies" view), reading through the plugin's data provider.

Routes (GET; JSON unless noted; errors are 4xx ``{"error": message}``):

- ``/spray/tags``: ``{"runs": {run: [{name, composite, target}]}}``, one entry per class analysed.
- ``/spray/history?run&name&composite&target``: every loaded step's N, cluster count and sizes, eigengap and
  eigenvalues: does a strategy appear, grow or vanish while the model trains?
- ``/spray/data?run&name&composite&target&step``: the header (class, sizes, map size, atlas grid), the
  cluster per example, eigenvalues, 2-D embedding, each cluster's mean map and the examples' indices.
- ``/spray/maps?run&name&composite&target&step&members=i,j,…`` (or ``&cluster=c&limit=L``): pooled relevance
  maps of up to 256 members.
- ``/spray/atlas?run&name&composite&target&step``: every member's input thumbnail in one PNG.
"""
import numpy as np

from tb_nnvis.plugins import _reader
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.relevance import metadata, spray_encoding as enc

_JSON, _PNG = "application/json", "image/png"
MAX_MAPS = 256


class SprayRoutes:
    """The SpRAy routes of a plugin whose ``reader`` is a :class:`tb_nnvis.plugins._reader.Reader`."""

    def __init__(self, reader):
        self._reader = reader

    def apps(self):
        return {"/spray/tags": self._serve_tags, "/spray/history": self._serve_history,
                "/spray/data": self._serve_data, "/spray/maps": self._serve_maps, "/spray/atlas": self._serve_atlas}

    # ---- reading -------------------------------------------------------------------------------

    def _series(self, request, params):
        """``(run, tag, datums)`` of the class the request names; 404 naming what exists otherwise."""
        run, name, composite = params.str("run"), params.str("name"), params.str("composite")
        target = params.int("target")
        series = self._reader.series(request, metadata.SPRAY).get(run, [])
        if not series:
            raise not_found(f"no SpRAy data in run {run!r}")
        for tag, c in series:
            if c["name"] == name and c["composite"] == composite and c.get("target") == target:
                return run, tag, self._reader.read(request, run, tag, metadata.SPRAY)
        classes = sorted({c.get("target") for _, c in series if c["name"] == name and c["composite"] == composite})
        if not classes:
            raise not_found(f"no SpRAy of {name!r} with composite {composite!r} in run {run!r}")
        raise not_found(f"no SpRAy of class {target} for {name!r} in run {run!r} "
                        f"(analysed classes: {', '.join(map(str, classes))})")

    def _decoded(self, request, datum):
        values = datum.values
        if len(values) <= enc.INDICES:
            raise bad_request(f"malformed SpRAy data at step {datum.step}: {len(values)} blobs")

        def load():
            try:
                blobs = [self._reader.blob(request, ref) for ref in values[:enc.ATLAS]]
                return enc.decode_spray(blobs)
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed SpRAy data at step {datum.step}: {e}") from None

        return self._reader.cache.get(values[enc.HEADER].blob_key, load)

    def _at_step(self, request):
        params = Params(request)
        run, tag, datums = self._series(request, params)
        datum = _reader.at_step(datums, params.int("step"), f"SpRAy {tag!r} in run {run!r}")
        return params, datum, self._decoded(request, datum)

    # ---- routes --------------------------------------------------------------------------------

    @route
    def _serve_tags(self, request):
        runs = {}
        for run, series in self._reader.series(request, metadata.SPRAY).items():
            runs[run] = sorted(({"name": c["name"], "composite": c["composite"], "target": c.get("target")}
                                for _, c in series), key=lambda e: (e["name"], e["composite"], e["target"]))
        return {"runs": runs}, _JSON

    @route
    def _serve_history(self, request):
        _, _, datums = self._series(request, Params(request))
        out = []
        for datum in datums:
            d = self._decoded(request, datum)
            h = d["header"]
            out.append({"step": datum.step, "wall_time": datum.wall_time, "n": h["n"], "n_clusters": h["n_clusters"],
                        "gap": h["gap"], "sizes": h["sizes"], "eigenvalues": d["eigenvalues"]})
        return {"steps": out}, _JSON

    @route
    def _serve_data(self, request):
        _, datum, d = self._at_step(request)
        return {"step": datum.step, **d["header"], "labels": d["labels"], "eigenvalues": d["eigenvalues"],
                "embedding": d["embedding"], "cluster_means": d["cluster_means"], "indices": d["indices"],
                "has_atlas": len(datum.values) > enc.ATLAS}, _JSON

    @route
    def _serve_maps(self, request):
        params, datum, d = self._at_step(request)
        n = d["header"]["n"]
        raw = request.args.get("members")
        if raw:
            try:
                members = [int(v) for v in raw.split(",")]
            except ValueError:
                raise bad_request(f"members must be comma-separated example numbers, got {raw[:80]!r}") from None
        else:
            cluster = params.int("cluster", 0, d["header"]["n_clusters"] - 1)
            members = np.flatnonzero(d["labels"] == cluster)[:params.int("limit", 1, MAX_MAPS, default=64)].tolist()
        if len(members) > MAX_MAPS:
            raise bad_request(f"at most {MAX_MAPS} maps per request, got {len(members)}")
        bad = [m for m in members if not 0 <= m < n]
        if bad:
            raise not_found(f"member {bad[0]} is out of range: step {datum.step} analysed {n} examples")
        return {"step": datum.step, "size": d["header"]["size"], "members": members,
                "clusters": d["labels"][members], "indices": d["indices"][members],
                "maps": d["maps"][members].reshape(len(members), -1)}, _JSON

    @route
    def _serve_atlas(self, request):
        _, datum, _ = self._at_step(request)
        if len(datum.values) <= enc.ATLAS:
            raise not_found(f"no input thumbnails at step {datum.step}: pass inputs= to summary.spray")
        return self._reader.blob(request, datum.values[enc.ATLAS]), _PNG

"""The Activations dashboard's backend: routes that read through TensorBoard's data provider.

Routes (all GET, JSON unless noted; errors are 4xx ``{"error": message}``):

- ``/index.js``, ``/static/<path>``: the frontend.
- ``/tags``: ``{"runs": {run: {layer: {shape, layout, units, probes, top_examples}}},
  "probe_inputs": {run: {count, shape}}}``.
- ``/steps?run&layer``: loaded steps with wall times, the sampling limit and how to raise it.
- ``/maps?run&layer&step&probe``: the atlas geometry, each unit's ``[lo, hi]`` and non-finite count
  for that probe, and the unit statistics at that step.
- ``/atlas?run&layer&step&probe``: the atlas PNG (see :mod:`tb_nnvis.core.images`).
- ``/stats?run&layer[&encoding=f32]``: unit statistics at every loaded step, ``[steps][units][fields]``;
  with ``encoding=f32``, the steps of the latest unit count as base64 little-endian float32 (``f32``) of
  ``shape``.
- ``/unit?run&layer&probe&unit``: one unit's range at every loaded step (for the filmstrip), and the
  layout of its strip.
- ``/unit_strip?run&layer&probe&unit``: one PNG with the unit's tile at every step ``/unit`` lists, in
  rows of ``strip.cols`` tiles: the whole filmstrip in one request.
- ``/probe?run&index``: a probe input as a PNG.
- ``/top?run&layer&unit[&step]``: the unit's top dataset examples (value, index, peak position).
- ``/example?run&index``: a dataset example as a PNG.
- ``/weights``, ``/weight_dynamics``: a unit's incoming weights and weight dynamics (see ``weights.py``).
"""
import base64
import concurrent.futures
import functools
import time

import numpy as np
from tensorboard import plugin_util
from tensorboard.data import provider

from tb_nnvis.core import images
from tb_nnvis.plugins import _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.activations import encoding, metadata, weights

_JSON, _PNG, _JS = "application/json", "image/png", "text/javascript"
_LISTING_SECONDS = 1.0


def _decoded_bytes(value):
    """Roughly what a cached (header, ranges) pair or statistics array holds in memory."""
    return value.nbytes if isinstance(value, np.ndarray) else value[1].nbytes + 512


class ActivationsPlugin(_server.DashboardPlugin):
    """Feature maps of every unit of chosen layers for fixed probe inputs, over training."""

    plugin_name = metadata.PLUGIN_NAME
    tab_name = "Activations"

    def __init__(self, context):
        self._provider = context.data_provider
        self._hints = context.sampling_hints
        # Decoded headers, ranges and statistics of steps, and decoded atlases (for unit strips), by blob key.
        self._cache = _server.LRUCache(size=256 << 20, weigh=_decoded_bytes)
        self._atlases = _server.LRUCache(size=256 << 20, weigh=lambda pixels: pixels.nbytes)
        # Blob reads wait on the data server (tens of ms each with --load_fast=true): do many at once.
        self._readers = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="nnvis-read")
        self._datums = _server.LRUCache(size=64)  # (run, tag, what the listing says of it): its datums
        self._listings = _server.LRUCache(size=16)  # (experiment, data class, run, second): the listing

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index,
            "/static/*": self._serve_static,
            "/tags": self._serve_tags,
            "/steps": self._serve_steps,
            "/maps": self._serve_maps,
            "/atlas": self._serve_atlas,
            "/stats": self._serve_stats,
            "/unit": self._serve_unit,
            "/unit_strip": self._serve_unit_strip,
            "/probe": self._serve_probe,
            "/top": self._serve_top,
            "/example": self._serve_example,
            "/weights": functools.partial(weights.serve_weights, self),
            "/weight_dynamics": functools.partial(weights.serve_weight_dynamics, self),
        }

    # ---- reading -------------------------------------------------------------------------------

    def _ctx(self, request):
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    def _series(self, request, kind, run=None):
        """``{run: {layer: (tag, parsed content)}}`` of one kind (of one run, if given: a logdir of many
        runs is listed faster); unreadable metadata is skipped."""
        ctx, eid = self._ctx(request)
        tensors = kind in metadata.TENSOR_KINDS
        lister = self._provider.list_tensors if tensors else self._provider.list_blob_sequences
        only = provider.RunTagFilter(runs=[run]) if run is not None else None
        # The Python loader scans every step of every series to list them: share one listing between the
        # requests of the same second (the first grid asks for /steps, /maps and /atlas at once).
        bucket = int(time.monotonic() // _LISTING_SECONDS)
        listing = self._listings.get((eid, tensors, run, bucket), lambda: lister(
            ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME, run_tag_filter=only))
        out = {}
        for run, tags in listing.items():
            # Layers are written in model order at each step, so the last write time orders them.
            for tag, ts in sorted(tags.items(), key=lambda kv: (kv[1].max_wall_time, kv[0])):
                try:
                    content = metadata.parse_plugin_metadata(ts.plugin_content)
                except ValueError as e:
                    _server.logger.warning("skipping %s/%s: %s", run, tag, e)
                    continue
                if content["kind"] == kind:
                    content["max_step"] = ts.max_step  # from the listing: the latest step, without a read
                    out.setdefault(run, {})[content.get("layer", tag)] = (tag, content)
        return out

    def _layer(self, request, kind=metadata.MAPS):
        """``(params, run, tag)`` of the series the request names; 404 when it does not exist."""
        return self._layer_series(request, kind)[:3]

    def _layer_series(self, request, kind):
        """Like :meth:`_layer`, plus the series' plugin content."""
        params = Params(request)
        run, layer = params.str("run"), params.str("layer")
        series = self._series(request, kind, run)
        if run not in series:
            raise not_found(f"no activation data for run {run!r}")
        if layer not in series[run]:
            raise not_found(f"no layer {layer!r} in run {run!r}")
        tag, content = series[run][layer]
        return params, run, tag, content

    def _read_blobs(self, request, run, tag):
        """Every loaded step of one blob series, in step order; kept while the series does not change (the
        Python loader rebuilds every step's tensor on each read: a second for 500 steps of 512 units)."""
        ctx, eid = self._ctx(request)
        only = provider.RunTagFilter(runs=[run], tags=[tag])
        listing = self._provider.list_blob_sequences(ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME,
                                                     run_tag_filter=only).get(run, {}).get(tag)
        if listing is None:
            return []
        version = (run, tag, listing.max_step, listing.max_wall_time, listing.max_length)
        return self._datums.get(version, lambda: self._read(self._provider.read_blob_sequences, request, run, tag))

    def _read_tensors(self, request, run, tag):
        return self._read(self._provider.read_tensors, request, run, tag)

    def _read(self, reader, request, run, tag):
        """Every loaded step of one series, in step order."""
        ctx, eid = self._ctx(request)
        data = reader(ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME, downsample=_server.READ_ALL,
                      run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))
        return sorted(data.get(run, {}).get(tag, []), key=lambda d: d.step)

    def _probe_at_step(self, request):
        """The ``maps`` datum, its decoded header/ranges/stats and the probe that a request names."""
        params, run, tag = self._layer(request)
        datum = self._datum_at(params, self._read_blobs(request, run, tag), run, tag)
        header, ranges, stats = self._decoded(request, datum)
        probe = params.int("probe", 0, header["shape"][0] - 1)
        return datum, header, ranges, stats, probe

    def _datum_at(self, params, datums, run, layer):
        step = params.int("step")
        for d in datums:
            if d.step == step:
                return d
        loaded = ", ".join(str(d.step) for d in datums[:20])
        raise not_found(f"step {step} of layer {layer!r} in run {run!r} is not loaded (loaded: {loaded})")

    def _blob(self, request, ref):
        ctx, _ = self._ctx(request)
        return self._provider.read_blob(ctx, blob_key=ref.blob_key)

    def _decoded(self, request, datum, stats=True):
        """``(header, ranges [P, C, 3], stats [C, K])`` of one step, cached; ``stats=False`` reads no
        statistics (None in their place): a filmstrip needs the ranges of hundreds of steps, and each
        blob read costs a round trip to the data server."""
        values = datum.values
        if len(values) <= metadata.FIRST_PNG:
            raise bad_request(f"malformed activation data at step {datum.step}: {len(values)} blobs")

        def malformed(e):
            return bad_request(f"malformed activation data at step {datum.step}: {e}")

        def load_head():
            try:
                header = encoding.decode_header(self._blob(request, values[metadata.HEADER]))
                shape = [int(s) for s in header["shape"]]
                ranges = encoding.decode_ranges(self._blob(request, values[metadata.RANGES]), shape)
            except (ValueError, KeyError, TypeError) as e:
                raise malformed(e) from None
            if len(values) - metadata.FIRST_PNG != shape[0]:
                raise malformed(f"{len(values) - metadata.FIRST_PNG} atlases for {shape[0]} probes")
            return header, ranges

        def load_stats():
            try:
                return encoding.decode_stats(self._blob(request, values[metadata.STATS]), header["shape"][3])
            except (ValueError, KeyError, TypeError) as e:
                raise malformed(e) from None

        header, ranges = self._cache.get(values[metadata.HEADER].blob_key, load_head)
        return header, ranges, self._cache.get(values[metadata.STATS].blob_key, load_stats) if stats else None

    # ---- routes --------------------------------------------------------------------------------

    @route
    def _serve_index(self, request):
        return _server.static_file("activations/index.js")[0], _JS

    @route
    def _serve_static(self, request):
        prefix = "/static/"
        path = request.path
        return _server.static_file(path[path.index(prefix) + len(prefix):])

    @route
    def _serve_tags(self, request):
        runs = {}
        top = self._series(request, metadata.TOP_EXAMPLES)
        kernels = self._series(request, metadata.WEIGHTS)
        for run, layers in self._series(request, metadata.MAPS).items():
            runs[run] = {}
            for layer, (_, content) in layers.items():
                shape = content.get("shape") or []
                canonical, layout = _canonical_shape(shape), content.get("layout")
                runs[run][layer] = {"shape": canonical, "layout": layout,
                                    "units": canonical[3] if canonical else None,
                                    "probes": canonical[0] if canonical else None,
                                    "last_step": content["max_step"],
                                    "top_examples": layer in top.get(run, {}),
                                    "weights": layer in kernels.get(run, {})}
        probes = {run: {"count": (c.get("shape") or [0])[0], "shape": c.get("shape"), "tag": tag}
                  for run, tags in self._series(request, metadata.PROBE_INPUTS).items()
                  for _, (tag, c) in tags.items()}
        self._add_probe_times(request, probes)
        dynamics = set(self._series(request, metadata.WEIGHT_NORMS)) | set(self._series(request, metadata.UPDATE_RATIO))
        return {"runs": runs, "probe_inputs": probes, "weight_dynamics": sorted(dynamics)}, _JSON

    def _add_probe_times(self, request, probes):
        """When each run's served probe inputs were written (one read for all runs). Maps written before
        that were computed on other probes (a run restarted under its old name), which the dashboard says
        instead of drawing the wrong input beside them."""
        if not probes:
            return
        ctx, eid = self._ctx(request)
        tags = {info.pop("tag") for info in probes.values()}
        data = self._provider.read_blob_sequences(
            ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME, downsample=_server.READ_ALL,
            run_tag_filter=provider.RunTagFilter(runs=list(probes), tags=tags))
        for run, info in probes.items():
            datums = [d for series in data.get(run, {}).values() for d in series]
            last = max(datums, key=lambda d: (d.step, d.wall_time), default=None)
            info["wall_time"] = last.wall_time if last is not None else None

    @route
    def _serve_steps(self, request):
        _, run, tag = self._layer(request)
        datums = self._read_blobs(request, run, tag)
        limit = _server.sample_limit(self._hints, metadata.PLUGIN_NAME, "blob_sequence")
        return {"steps": [{"step": d.step, "wall_time": d.wall_time} for d in datums],
                "sample_limit": limit, "hint": _server.sample_hint(metadata.PLUGIN_NAME, len(datums))}, _JSON

    @route
    def _serve_maps(self, request):
        datum, header, ranges, stats, probe = self._probe_at_step(request)
        return {"step": datum.step, "probe": probe, "shape": header["shape"], "layout": header["layout"],
                "grid": header["grid"], "range": ranges[probe, :, :2], "nonfinite": ranges[probe, :, 2].astype(int),
                "stats": {"fields": list(metadata.STAT_FIELDS), "values": stats}}, _JSON

    @route
    def _serve_atlas(self, request):
        datum, _, _, _, probe = self._probe_at_step(request)
        return self._blob(request, datum.values[metadata.FIRST_PNG + probe]), _PNG

    @route
    def _serve_stats(self, request):
        params, run, tag = self._layer(request, metadata.UNIT_STATS)
        datums = self._read_tensors(request, run, tag)
        k = len(metadata.STAT_FIELDS)
        values = [np.asarray(d.numpy, dtype=np.float32) for d in datums]
        if any(v.ndim != 2 or v.shape[1] != k for v in values):
            raise bad_request(f"malformed unit statistics for layer {params.str('layer')!r} in run {run!r}")
        if params.args.get("encoding") != "f32":
            return {"steps": [d.step for d in datums], "fields": list(metadata.STAT_FIELDS),
                    "values": values}, _JSON
        # Packed: on a long run the numbers as JSON text are megabytes that take seconds to write and read.
        kept = [(d.step, v) for d, v in zip(datums, values) if v.shape == values[-1].shape] if values else []
        packed = np.asarray([v for _, v in kept], dtype="<f4").reshape(len(kept), -1, k)
        return {"steps": [s for s, _ in kept], "fields": list(metadata.STAT_FIELDS), "shape": packed.shape,
                "f32": base64.b64encode(packed.tobytes()).decode("ascii")}, _JSON

    def _unit_series(self, request):
        """``(datums, ranges [steps, 3], header, probe, unit)`` of the unit a request names, at every loaded
        step whose shape is the latest step's (a layer whose shape changed shows its latest form)."""
        params, run, tag = self._layer(request)
        datums = self._read_blobs(request, run, tag)
        if not datums:
            raise not_found(f"no steps loaded for layer {tag!r} in run {run!r}")
        decoded = list(self._readers.map(lambda d: self._decoded(request, d, stats=False), datums))
        header = decoded[-1][0]
        probe = params.int("probe", 0, header["shape"][0] - 1)
        unit = params.int("unit", 0, header["shape"][3] - 1)
        kept = [(d, r[probe, unit]) for d, (h, r, _) in zip(datums, decoded) if h["shape"] == header["shape"]]
        return [d for d, _ in kept], np.array([r for _, r in kept]), header, probe, unit

    @route
    def _serve_unit(self, request):
        datums, ranges, header, probe, unit = self._unit_series(request)
        return {"steps": [d.step for d in datums], "range": ranges[:, :2], "nonfinite": ranges[:, 2].astype(int),
                "grid": header["grid"], "unit": unit, "probe": probe,
                "strip": {"cols": _strip_cols(len(datums), header["grid"]["tile_w"])}}, _JSON

    @route
    def _serve_unit_strip(self, request):
        datums, _, header, probe, unit = self._unit_series(request)
        grid = header["grid"]
        th, tw = grid["tile_h"], grid["tile_w"]
        y, x = (unit // grid["cols"]) * th, (unit % grid["cols"]) * tw

        def tile(datum):
            pixels = self._atlas_pixels(request, datum, probe)
            if pixels.shape[0] < y + th or pixels.shape[1] < x + tw:
                raise bad_request(f"malformed activation data at step {datum.step}: atlas of {pixels.shape[:2]}")
            return pixels[y:y + th, x:x + tw, :3]

        tiles = list(self._readers.map(tile, datums))
        cols = _strip_cols(len(tiles), tw)
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        rows = [np.concatenate(tiles[i:i + cols], axis=1) for i in range(0, len(tiles), cols)]
        return images.encode_png(np.concatenate(rows, axis=0), 1), _PNG

    def _atlas_pixels(self, request, datum, probe):
        """The decoded atlas ``[H, W, 3]`` of one probe at one step, cached."""
        ref = datum.values[metadata.FIRST_PNG + probe]

        def load():
            try:
                return images.decode_png(bytes(self._blob(request, ref)))
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed activation atlas at step {datum.step}: {e}") from None

        return self._atlases.get(ref.blob_key, load)

    @route
    def _serve_probe(self, request):
        return self._input_image(request, metadata.PROBE_INPUTS, "image probe inputs"), _PNG

    @route
    def _serve_example(self, request):
        return self._input_image(request, metadata.DATASET_EXAMPLES, "image dataset examples"), _PNG

    def _input_image(self, request, kind, what):
        """One PNG of a probe or dataset-example series (the latest written)."""
        params = Params(request)
        run = params.str("run")
        series = self._series(request, kind, run).get(run)
        if not series:
            raise not_found(f"run {run!r} has no {what}")
        tag = next(iter(series.values()))[0]
        datums = self._read_blobs(request, run, tag)
        if not datums:
            raise not_found(f"run {run!r} has no {what} loaded")
        values = datums[-1].values
        index = params.int("index", 0, len(values) - 2)
        return self._blob(request, values[1 + index])

    @route
    def _serve_top(self, request):
        params, run, tag, content = self._layer_series(request, metadata.TOP_EXAMPLES)
        datums = self._read_tensors(request, run, tag)
        if not datums:
            raise not_found(f"no top examples loaded for layer {params.str('layer')!r} in run {run!r}")
        # The examples of the requested step, or of the latest step before it (top-k is written per epoch).
        step = params.int("step", default=datums[-1].step)
        before = [d for d in datums if d.step <= step]
        datum = before[-1] if before else datums[0]
        top = np.asarray(datum.numpy, dtype=np.float64)
        if top.ndim != 3 or top.shape[2] != len(metadata.TOP_FIELDS):
            raise bad_request(f"malformed top examples at step {datum.step}: shape {top.shape}")
        unit = params.int("unit", 0, top.shape[0] - 1)
        map_shape = [int(s) for s in content.get("shape") or []]
        width = map_shape[-1] if map_shape else 1
        examples = [{"value": float(v), "index": int(i), "y": int(p) // width, "x": int(p) % width}
                    for v, i, p in top[unit] if i >= 0]
        field = weights.receptive_field(self, request, run, params.str("layer"))
        for e in examples:  # the input region the unit saw at its peak, where the field is known
            e["crop"] = weights.crop(field, e["y"], e["x"])
        has_images = run in self._series(request, metadata.DATASET_EXAMPLES, run)
        return {"step": datum.step, "steps": [d.step for d in datums], "unit": unit, "examples": examples,
                "map_shape": [int(np.prod(map_shape[:-1])) if len(map_shape) > 1 else 1, width],
                "images": has_images}, _JSON


def _strip_cols(count, tile_w, max_width=4096):
    """Tiles per row of a unit strip: one row, wrapped so that the PNG stays under ``max_width`` pixels."""
    return max(1, min(count, max_width // max(1, tile_w)))


def _canonical_shape(shape):
    """The ``[P, H, W, C]`` shape the dashboard draws, from the shape that was written."""
    shape = list(shape)
    if len(shape) == 2:
        return [shape[0], 1, 1, shape[1]]
    if len(shape) == 3:
        return [shape[0], 1, shape[1], shape[2]]
    if len(shape) == 4:
        return shape
    if len(shape) > 4:
        return [shape[0], int(np.prod(shape[1:-2])), shape[-2], shape[-1]]
    return []

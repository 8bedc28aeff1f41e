"""The Activations dashboard's backend: routes that read through TensorBoard's data provider.

Routes (all GET, JSON unless noted; errors are 4xx ``{"error": message}``):

- ``/index.js``, ``/static/<path>``: the frontend.
- ``/tags``: ``{"runs": {run: {layer: {shape, layout, units, probes, last_step, top_examples, weights}}},
  "probe_inputs": {run: {count, shape, wall_time}}, "weight_dynamics": [run]}``; a layer is listed by its
  ``unit_stats`` tensor series, which the Python loader lists much faster than the maps' blobs.
- ``/steps?run&layer``: loaded steps with wall times, the sampling limit and how to raise it.
- ``/maps?run&layer&step&probe``: the atlas geometry, each unit's ``[lo, hi]`` and non-finite count
  for that probe, ``channels`` (1: the atlas is grey, no NaN/Inf in it; 3: red value, green flag), and
  the unit statistics at that step (``values`` null when that step's statistics are not loaded).
- ``/atlas?run&layer&step&probe``: the atlas PNG (see :mod:`tb_nnvis.core.images` and ``channels``).
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
from typing import Callable, NamedTuple

import numpy as np
from tensorboard import plugin_util
from tensorboard.data import provider

from tb_nnvis.core import images
from tb_nnvis.plugins import _reader, _server
from tb_nnvis.plugins._server import Params, bad_request, not_found, route
from tb_nnvis.plugins.activations import encoding, metadata, weights

_JSON, _PNG, _JS = "application/json", "image/png", "text/javascript"


class _Step(NamedTuple):
    """One probe at one step, in either format: what every route reads of a maps step."""
    header: dict  # shape [P, H, W, C], layout, grid
    ranges: np.ndarray  # float32 [C, 3] of this probe
    png: Callable  # () -> the atlas PNG bytes
    channels: int  # 1: grey (value only), 3: value and NaN/Inf flag
    stats_ref: object  # format 1: the statistics blob of the step; format 2: None (they are a tensor)
    probe: int
    png_key: str  # the blob key of the PNG's blob, for caching its pixels


class ActivationsPlugin(_server.DashboardPlugin):
    """Feature maps of every unit of chosen layers for fixed probe inputs, over training."""

    plugin_name = metadata.PLUGIN_NAME
    tab_name = "Activations"

    def __init__(self, context):
        self._reader = _reader.Reader(context.data_provider, metadata.PLUGIN_NAME, metadata.parse_plugin_metadata,
                                      tensor_kinds=metadata.TENSOR_KINDS)
        self._hints = context.sampling_hints
        # Raw blobs (frames, format-1 headers and ranges) and decoded atlases (for unit strips), by blob key.
        self._blobs = _server.LRUCache(size=256 << 20, weigh=len)
        self._atlases = _server.LRUCache(size=256 << 20, weigh=lambda pixels: pixels.nbytes)
        # Blob reads wait on the data server (tens of ms each with --load_fast=true): do many at once.
        self._readers = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="nnvis-read")

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

    def _series(self, request, kind, run=None):
        """``{run: {layer: (tag, parsed content)}}`` of one kind (of one run, if given: a logdir of many
        runs is listed faster); unreadable metadata is skipped."""
        return self._reader.by_layer(request, kind, run)

    def _layer(self, request, kind=metadata.MAPS):
        """``(params, run, tag)`` of the series the request names; 404 when it does not exist."""
        return self._layer_series(request, kind)[:3]

    def _layer_series(self, request, kind):
        """Like :meth:`_layer`, plus the series' plugin content."""
        params = Params(request)
        run, layer = params.str("run"), params.str("layer")
        found = self._find(request, run, layer, kind)
        if found is not None:
            return params, run, found.tag, found.content
        series = self._series(request, kind, run)  # to say what is missing
        if run not in series:
            raise not_found(f"no activation data for run {run!r}")
        if layer not in series[run]:
            raise not_found(f"no layer {layer!r} in run {run!r}")
        tag, content = series[run][layer]
        return params, run, tag, content

    def _find(self, request, run, layer, kind):
        """The :class:`_reader.Series` of one layer and kind, or None: found by its tag (the layer's path and
        the kind's suffix) without listing the run, else in the run's listing."""
        found = self._reader.lookup(request, run, layer + _SUFFIX[kind], kind)
        if found is not None and found.content.get("layer", found.tag) == layer:
            return found
        return self._reader.layers(request, kind, run).get(run, {}).get(layer)

    def _read_blobs(self, request, run, tag):
        return self._reader.read(request, run, tag, metadata.MAPS)

    def _read_tensors(self, request, run, tag):
        return self._reader.read(request, run, tag, metadata.UNIT_STATS)

    def _blob(self, request, ref):
        return self._reader.blob(request, ref)

    def _cached_blob(self, request, ref):
        return self._blobs.get(ref.blob_key, lambda: bytes(self._blob(request, ref)))

    def _step(self, request, datum, probe, content):
        """The :class:`_Step` of ``probe`` (an int, or a ``Params`` to read ``probe`` from, checked against
        the step's probe count) at one maps datum. Format 2 reads one blob; format 1 reads its header and
        ranges (cached per step) and, when asked, the PNG."""
        values = datum.values

        def malformed(e):
            return bad_request(f"malformed activation data at step {datum.step}: {e}")

        def pick(count):
            if not count:
                raise malformed("no probes")
            return probe.int("probe", 0, count - 1) if isinstance(probe, Params) else min(probe, count - 1)

        # A series written by format 2 holds frames; one of format 1 may hold frames too (a run resumed with
        # a newer tb_nnvis), which its first blob tells.
        if int(content.get("version", 1)) >= 2 or encoding.is_frame(self._cached_blob(request, values[0])):
            p = pick(len(values))
            try:
                frame = encoding.decode_frame(self._cached_blob(request, values[p]))
                _check_shape(frame.header, len(values), frame.ranges)
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise malformed(e) from None
            return _Step(frame.header, frame.ranges, lambda: frame.png, int(frame.header.get("channels", 3)), None, p,
                         values[p].blob_key)
        if len(values) <= metadata.FIRST_PNG:
            raise malformed(f"{len(values)} blobs")
        try:
            header = encoding.decode_header(self._cached_blob(request, values[metadata.HEADER]))
            ranges = encoding.decode_ranges(self._cached_blob(request, values[metadata.RANGES]), header["shape"])
            _check_shape(header, len(values) - metadata.FIRST_PNG, ranges[0])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise malformed(e) from None
        p = pick(len(values) - metadata.FIRST_PNG)
        ref = values[metadata.FIRST_PNG + p]
        return _Step(header, ranges[p], lambda: self._cached_blob(request, ref), 3, values[metadata.STATS], p,
                     ref.blob_key)

    def _probe_at_step(self, request):
        """``(datum, step, run, layer)`` of the maps step and probe that a request names."""
        params, run, tag, content = self._layer_series(request, metadata.MAPS)
        layer = params.str("layer")
        datum = _reader.at_step(self._read_blobs(request, run, tag), params.int("step"),
                                f"layer {layer!r} in run {run!r}")
        return datum, self._step(request, datum, params, content), run, layer

    def _stats_at(self, request, run, layer, step):
        """The ``unit_stats`` tensor ``[C, K]`` of one step of a layer, None when it is not loaded."""
        found = self._find(request, run, layer, metadata.UNIT_STATS)
        if found is None:
            return None
        tag, _, last = found
        # The first grid shows the latest step: read that one alone (500 steps of 512 units are 6 MB).
        datums = ([self._reader.latest(request, run, tag, metadata.UNIT_STATS)] if step == last
                  else self._read_tensors(request, run, tag))
        return next((np.asarray(d.numpy, dtype=np.float32) for d in datums if d is not None and d.step == step), None)

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
        # One listing of the tensor series says it all: each maps series has its unit_stats tensor (same layer,
        # shape and steps), and weights their norms. The Python loader lists tensors several times faster than
        # blob sequences (it sizes every blob of every step): 0.4 s instead of 2 s for 20 runs x 30 layers x 500.
        # ?run=R lists that run alone: the dashboard's first grid needs no more (the full list follows it), and
        # the Python loader walks every step of every series it lists (20x less on a logdir of 20 runs).
        only = request.args.get("run") or None
        listed = self._reader.kinds(request, (metadata.UNIT_STATS, metadata.TOP_EXAMPLES, metadata.WEIGHT_NORMS,
                                              metadata.UPDATE_RATIO), run=only)
        top, kernels = listed[metadata.TOP_EXAMPLES], listed[metadata.WEIGHT_NORMS]
        runs = {}
        for run, layers in listed[metadata.UNIT_STATS].items():
            runs[run] = {}
            for layer, (_, content, last_step) in layers.items():
                shape = content.get("shape") or []
                canonical, layout = _canonical_shape(shape), content.get("layout")
                runs[run][layer] = {"shape": canonical, "layout": layout,
                                    "units": canonical[3] if canonical else None,
                                    "probes": canonical[0] if canonical else None,
                                    "last_step": last_step,  # from the listing: no read
                                    "top_examples": layer in top.get(run, {}),
                                    "weights": layer in kernels.get(run, {})}
        inputs = self._reader.kinds(request, (metadata.PROBE_INPUTS,), run=only, tags=[metadata.PROBE_TAG])
        probes = {run: {"count": (c.get("shape") or [0])[0], "shape": c.get("shape"), "tag": tag}
                  for run, tags in inputs[metadata.PROBE_INPUTS].items() for tag, c, _ in tags.values()}
        self._add_probe_times(request, probes)
        dynamics = set(kernels) | set(listed[metadata.UPDATE_RATIO])
        return {"runs": runs, "probe_inputs": probes, "weight_dynamics": sorted(dynamics)}, _JSON

    def _add_probe_times(self, request, probes):
        """When each run's served probe inputs were written (one read for all runs). Maps written before
        that were computed on other probes (a run restarted under its old name), which the dashboard says
        instead of drawing the wrong input beside them."""
        if not probes:
            return
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        tags = {info.pop("tag") for info in probes.values()}
        data = self._reader.provider.read_blob_sequences(
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
        limit = _server.sample_limit(self._hints, metadata.PLUGIN_NAME, "blob_sequence", self._reader.provider)
        return {"steps": [{"step": d.step, "wall_time": d.wall_time} for d in datums],
                "sample_limit": limit, "hint": _server.sample_hint(metadata.PLUGIN_NAME, len(datums))}, _JSON

    @route
    def _serve_maps(self, request):
        params = Params(request)
        # The statistics (a tensor series) are read while the step's frame is: each is a round trip or two.
        stats = self._readers.submit(self._stats_at, request, params.str("run"), params.str("layer"), params.int("step"))
        datum, step, run, layer = self._probe_at_step(request)
        header, ranges = step.header, step.ranges
        values = stats.result()
        units = header["shape"][3]
        if values is not None and values.shape != (units, len(metadata.STAT_FIELDS)):
            values = None  # written for another shape of the layer
        if values is None and step.stats_ref is not None:  # format 1 also kept them in the maps blobs
            try:
                values = encoding.decode_stats(self._cached_blob(request, step.stats_ref), units)
            except ValueError as e:
                raise bad_request(f"malformed activation data at step {datum.step}: {e}") from None
        return {"step": datum.step, "probe": step.probe, "shape": header["shape"], "layout": header["layout"],
                "grid": header["grid"], "range": ranges[:, :2], "nonfinite": ranges[:, 2].astype(int),
                "channels": step.channels,  # 1: a grey atlas, no NaN/Inf flags in green
                "stats": {"fields": list(metadata.STAT_FIELDS), "values": values}}, _JSON

    @route
    def _serve_atlas(self, request):
        return self._probe_at_step(request)[1].png(), _PNG

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
        """``(datums, ranges [steps, 3], steps, unit)`` of the unit a request names, at every loaded step whose
        shape is the latest step's (a layer whose shape changed shows its latest form); ``steps`` are the
        :class:`_Step` of the requested probe. One blob read per step in format 2, all at once."""
        params, run, tag, content = self._layer_series(request, metadata.MAPS)
        datums = self._read_blobs(request, run, tag)
        if not datums:
            raise not_found(f"no steps loaded for layer {tag!r} in run {run!r}")
        latest = self._step(request, datums[-1], params, content)
        unit = params.int("unit", 0, latest.header["shape"][3] - 1)
        steps = list(self._readers.map(lambda d: self._step(request, d, latest.probe, content), datums))
        kept = [(d, s) for d, s in zip(datums, steps) if s.header["shape"] == latest.header["shape"]]
        return ([d for d, _ in kept], np.array([s.ranges[unit] for _, s in kept]), [s for _, s in kept], unit)

    @route
    def _serve_unit(self, request):
        datums, ranges, steps, unit = self._unit_series(request)
        grid = steps[-1].header["grid"]
        return {"steps": [d.step for d in datums], "range": ranges[:, :2], "nonfinite": ranges[:, 2].astype(int),
                "grid": grid, "unit": unit, "probe": steps[-1].probe,
                "strip": {"cols": _strip_cols(len(datums), grid["tile_w"])}}, _JSON

    @route
    def _serve_unit_strip(self, request):
        datums, _, steps, unit = self._unit_series(request)
        grid = steps[-1].header["grid"]
        th, tw = grid["tile_h"], grid["tile_w"]
        y, x = (unit // grid["cols"]) * th, (unit % grid["cols"]) * tw

        def tile(datum_step):
            datum, step = datum_step
            pixels = self._atlas_pixels(datum, step)
            if pixels.shape[0] < y + th or pixels.shape[1] < x + tw:
                raise bad_request(f"malformed activation data at step {datum.step}: atlas of {pixels.shape[:2]}")
            return pixels[y:y + th, x:x + tw]

        tiles = list(self._readers.map(tile, zip(datums, steps)))
        cols = _strip_cols(len(tiles), tw)
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        rows = [np.concatenate(tiles[i:i + cols], axis=1) for i in range(0, len(tiles), cols)]
        return images.encode_png(np.concatenate(rows, axis=0), 1), _PNG

    def _atlas_pixels(self, datum, step):
        """The decoded atlas ``[H, W, 3]`` (red q, green flag) of one probe at one step, cached."""
        def load():
            try:
                return encoding.atlas_pixels(step.png())
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request(f"malformed activation atlas at step {datum.step}: {e}") from None

        return self._atlases.get(step.png_key, load)

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


# Each kind's series of a layer is tagged with the layer's path and this suffix.
_SUFFIX = {metadata.MAPS: "", metadata.UNIT_STATS: metadata.STATS_SUFFIX, metadata.TOP_EXAMPLES: metadata.TOP_SUFFIX,
           metadata.WEIGHTS: metadata.WEIGHTS_SUFFIX, metadata.WEIGHT_NORMS: metadata.NORMS_SUFFIX,
           metadata.UPDATE_RATIO: metadata.RATIO_SUFFIX, metadata.RECEPTIVE_FIELD: metadata.FIELD_SUFFIX}


def _check_shape(header, probes, ranges):
    """ValueError unless a step's header, probe count and ranges ``[C, 3]`` agree."""
    shape = [int(v) for v in header["shape"]]
    if len(shape) != 4 or shape[0] != probes:
        raise ValueError(f"{probes} atlases for shape {shape}")
    if np.shape(ranges) != (shape[3], 3):
        raise ValueError(f"ranges of shape {np.shape(ranges)} for {shape[3]} units")


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

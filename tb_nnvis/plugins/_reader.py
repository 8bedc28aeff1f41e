"""Reading a plugin's series through TensorBoard's data provider, for any tb_nnvis plugin.

Works under both loaders (``--load_fast=true|false``): it only uses ``context.data_provider``, never the
multiplexer. A series is found by the ``kind`` in its plugin content; decoded blobs are kept in an LRU.

Listing is the slow part on a big logdir with the Python loader (it walks every step of every series), so
one listing serves all requests of the same second, and a series' datums are kept while its own listing
(cheap: one series) says it has not changed.
"""
import time
from typing import NamedTuple

from tensorboard import plugin_util
from tensorboard.data import provider

from tb_nnvis.plugins import _server

_LISTING_SECONDS = 1.0


class Series(NamedTuple):
    """One listed time series: its tag, parsed plugin content and latest step (from the listing, no read)."""
    tag: str
    content: dict
    max_step: int


def _datum_bytes(datums):
    """About what a list of datums holds in memory (tensor values, or a few blob keys per step)."""
    return sum(getattr(getattr(d, "numpy", None), "nbytes", 0) + 256 for d in datums)


class Reader:
    """Lists and reads one plugin's time series for a request.

    Args:
      data_provider: ``context.data_provider``.
      plugin_name: the plugin's name.
      parse: ``bytes -> dict`` of the plugin content; raises ValueError for data it cannot read.
      tensor_kinds: the kinds stored as tensors (the others are blob sequences).
    """

    def __init__(self, data_provider, plugin_name, parse, tensor_kinds=()):
        self.provider, self.plugin_name, self.parse = data_provider, plugin_name, parse
        self.tensor_kinds = tuple(tensor_kinds)
        self.cache = _server.LRUCache()
        self._listings = _server.LRUCache(size=64)  # (experiment, tensors?, run, tags, second): the listing
        self._datums = _server.LRUCache(size=256 << 20, weigh=_datum_bytes)  # (run, tag, version): datums
        self._parsed = _server.LRUCache(size=16384)  # plugin content bytes: parsed (thousands per listing)

    @staticmethod
    def _ctx(request):
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    def listing(self, request, tensors, run=None, tags=None):
        """``{run: {tag: time series}}`` of the tensor (or blob sequence) series, of one run and of some tags
        if given; shared by the requests of the same second (a page asks for several routes at once). The
        Python loader walks every step of every series it lists: one series is cheap, a logdir is not."""
        ctx, eid = self._ctx(request)
        lister = self.provider.list_tensors if tensors else self.provider.list_blob_sequences
        tags = tuple(tags) if tags is not None else None
        only = provider.RunTagFilter(runs=[run] if run is not None else None, tags=tags)
        bucket = int(time.monotonic() // _LISTING_SECONDS)
        return self._listings.get((eid, bool(tensors), run, tags, bucket), lambda: lister(
            ctx, experiment_id=eid, plugin_name=self.plugin_name, run_tag_filter=only))

    def lookup(self, request, run, tag, kind):
        """The :class:`Series` of one run and tag if it is of ``kind``, else None: one series listed."""
        series = self._series(request, (kind,), run, (tag,)).get(run, [])
        return series[0] if series else None

    def kinds(self, request, kinds, run=None, tags=None):
        """``{kind: {run: {layer: Series}}}`` for several kinds, from one listing per data class."""
        out = {kind: {} for kind in kinds}
        for r, items in self._series(request, tuple(kinds), run, tags).items():
            for s in items:
                out[s.content["kind"]].setdefault(r, {})[s.content.get("layer", s.tag)] = s
        return out

    def layers(self, request, kind, run=None):
        """``{run: {layer: Series}}`` of one kind (of one run, if given), layers in the order they were
        written; unreadable plugin content is skipped with a warning."""
        return self.kinds(request, (kind,), run)[kind]

    def by_layer(self, request, kind, run=None):
        """``{run: {layer: (tag, content)}}`` of one kind, layers in the order they were written."""
        return {r: {layer: (s.tag, s.content) for layer, s in layers.items()}
                for r, layers in self.layers(request, kind, run).items()}

    def series(self, request, kinds, run=None):
        """``{run: [(tag, content), ...]}`` of the given kinds, in writing order; unreadable ones are skipped."""
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        return {r: [(s.tag, s.content) for s in items] for r, items in self._series(request, kinds, run).items()}

    def _series(self, request, kinds, run, tags=None):
        out = {}
        tensor_kinds = [k in self.tensor_kinds for k in kinds]
        for tensors in sorted(set(tensor_kinds), reverse=True):  # tensors first, as before
            for r, listed in self.listing(request, tensors, run, tags).items():
                for tag, ts in sorted(listed.items(), key=lambda kv: (kv[1].max_wall_time, kv[0])):
                    try:  # a copy: callers may add to it
                        content = dict(self._parsed.get(bytes(ts.plugin_content), lambda: self.parse(ts.plugin_content)))
                    except ValueError as e:
                        _server.logger.warning("skipping %s/%s: %s", r, tag, e)
                        continue
                    if content["kind"] in kinds:
                        out.setdefault(r, []).append(Series(tag, content, ts.max_step))
        return out

    def read(self, request, run, tag, kind):
        """Every loaded step of one series, in step order; kept while the series does not change (the Python
        loader rebuilds every step's datum on each read: a second for 500 steps of 512 units)."""
        return self._read(request, run, tag, kind, _server.READ_ALL)

    def latest(self, request, run, tag, kind):
        """The latest loaded step's datum of one series (None when none is loaded): one datum from the data
        server instead of every step."""
        datums = self._read(request, run, tag, kind, 1)
        return datums[-1] if datums else None

    def _read(self, request, run, tag, kind, downsample):
        ctx, eid = self._ctx(request)
        tensors = kind in self.tensor_kinds
        only = provider.RunTagFilter(runs=[run], tags=[tag])
        # The series' listing of this second says whether it changed (lookup shares it).
        ts = self.listing(request, tensors, run, (tag,)).get(run, {}).get(tag)
        if ts is None:
            return []
        version = (eid, run, tag, tensors, ts.max_step, ts.max_wall_time, getattr(ts, "max_length", None))
        reader = self.provider.read_tensors if tensors else self.provider.read_blob_sequences

        def load():
            data = reader(ctx, experiment_id=eid, plugin_name=self.plugin_name, downsample=downsample,
                          run_tag_filter=only)
            return sorted(data.get(run, {}).get(tag, []), key=lambda d: d.step)

        return self._datums.get(version + (downsample,), load)

    def blob(self, request, ref):
        ctx, _ = self._ctx(request)
        return self.provider.read_blob(ctx, blob_key=ref.blob_key)


def at_step(datums, step, what):
    """The datum of ``step``; 404 naming the loaded steps when it is not loaded."""
    for d in datums:
        if d.step == step:
            return d
    loaded = ", ".join(str(d.step) for d in datums[:20]) or "none"
    raise _server.not_found(f"step {step} of {what} is not loaded (loaded: {loaded})")


def at_or_before(datums, step):
    """The datum of the latest step ≤ ``step`` (the first one if all are later); None when there are none."""
    before = [d for d in datums if d.step <= step]
    return before[-1] if before else (datums[0] if datums else None)

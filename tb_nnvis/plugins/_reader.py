"""Reading a plugin's series through TensorBoard's data provider, for any tb_nnvis plugin.

Works under both loaders (``--load_fast=true|false``): it only uses ``context.data_provider``, never the
multiplexer. A series is found by the ``kind`` in its plugin content; decoded blobs are kept in an LRU.
"""
from tensorboard import plugin_util
from tensorboard.data import provider

from tb_nnvis.plugins import _server


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

    @staticmethod
    def _ctx(request):
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    def by_layer(self, request, kind):
        """``{run: {layer: (tag, content)}}`` of one kind, layers in the order they were written."""
        return {run: {c.get("layer", tag): (tag, c) for tag, c in items}
                for run, items in self.series(request, kind).items()}

    def series(self, request, kinds):
        """``{run: [(tag, content), ...]}`` of the given kinds, in writing order; unreadable ones are skipped."""
        ctx, eid = self._ctx(request)
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        out = {}
        listers = []
        if any(k in self.tensor_kinds for k in kinds):
            listers.append(self.provider.list_tensors)
        if any(k not in self.tensor_kinds for k in kinds):
            listers.append(self.provider.list_blob_sequences)
        for lister in listers:
            for run, tags in lister(ctx, experiment_id=eid, plugin_name=self.plugin_name).items():
                for tag, ts in sorted(tags.items(), key=lambda kv: (kv[1].max_wall_time, kv[0])):
                    try:
                        content = self.parse(ts.plugin_content)
                    except ValueError as e:
                        _server.logger.warning("skipping %s/%s: %s", run, tag, e)
                        continue
                    if content["kind"] in kinds:
                        out.setdefault(run, []).append((tag, content))
        return out

    def read(self, request, run, tag, kind):
        """Every loaded step of one series, in step order."""
        ctx, eid = self._ctx(request)
        reader = self.provider.read_tensors if kind in self.tensor_kinds else self.provider.read_blob_sequences
        data = reader(ctx, experiment_id=eid, plugin_name=self.plugin_name, downsample=_server.READ_ALL,
                      run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))
        return sorted(data.get(run, {}).get(tag, []), key=lambda d: d.step)

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

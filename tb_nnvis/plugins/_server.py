"""Server code every tb_nnvis plugin shares: parameters, errors, JSON/PNG responses, static files.

A route is a method ``(self, request) -> (payload, content_type)`` wrapped by :func:`route`; it raises
:class:`HttpError` for bad input, and the wrapper turns that into a 4xx JSON ``{"error": message}``.
Anything unexpected becomes a 500 with a one-line message (logged with its traceback on the
server), so the browser never sees a stack trace.
"""
import collections
import concurrent.futures
import functools
import json
import logging
import math
import mimetypes
import os
import posixpath
import threading

import numpy as np
from werkzeug import wrappers

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

logger = logging.getLogger("tb_nnvis")

# TensorBoard's own defaults for how many steps it keeps per time series when no hint is given: the Python
# loader (--load_fast=false) and the Rust data server (--load_fast=true, and auto where it is installed).
DEFAULT_SAMPLES = {"blob_sequence": 10, "tensor": 10}
RUST_DEFAULT_SAMPLES = {"blob_sequence": 10, "tensor": 100}
# Read "everything that was loaded"; the loader has already downsampled to the limit.
READ_ALL = 1000


class HttpError(Exception):
    """An error for the browser: ``code`` (4xx) and a message that says what to do."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def not_found(message):
    return HttpError(404, message)


def bad_request(message):
    return HttpError(400, message)


def jsonable(obj):
    """``obj`` with numpy values made plain, and NaN/Inf spelt as the strings JSON can carry."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and not np.isfinite(obj).all():
            spelt = np.where(np.isnan(obj), "NaN", np.where(obj > 0, "Infinity", "-Infinity"))
            return np.where(np.isfinite(obj), obj.astype(object), spelt).tolist()
        return obj.tolist()  # plain floats and ints, fast
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def route(fn):
    """Make a WSGI app of a route method that returns ``(payload, content_type)``."""

    @functools.wraps(fn)
    @wrappers.Request.application
    def app(self, request):
        try:
            payload, content_type = fn(self, request)
        except HttpError as e:
            return _error(request, e.code, str(e))
        except Exception as e:  # noqa: BLE001 - the browser gets a message, the log the traceback
            logger.exception("tb_nnvis route %s failed", request.path)
            return _error(request, 500, f"internal error in {request.path}: {type(e).__name__}: {e}")
        if content_type == "application/json":
            payload = json.dumps(jsonable(payload), allow_nan=False, separators=(",", ":"))
        return http_util.Respond(request, payload, content_type)

    return app


def _error(request, code, message):
    body = json.dumps({"error": message})
    return http_util.Respond(request, body, "application/json", code=code)


class Params:
    """Query parameters of one request, validated with messages that name the parameter."""

    def __init__(self, request):
        self.args = request.args

    def str(self, name):
        value = self.args.get(name)
        if value is None or value == "":
            raise bad_request(f"missing query parameter {name!r}")
        return value

    def _given(self, name, default):
        """The raw value of ``name``; None when it is absent and has a ``default``; 400 when it is required."""
        raw = self.args.get(name)
        if (raw is None or raw == "") and default is None:
            raise bad_request(f"missing query parameter {name!r}")
        return raw if raw not in (None, "") else None

    def int(self, name, low=None, high=None, default=None):
        raw = self._given(name, default)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"query parameter {name!r} must be an integer, got {raw!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise not_found(f"{name} {value} is out of range [{low}, {high}]")
        return value

    def float(self, name, default=None):
        """A finite float parameter (``default`` when absent); 400 for anything else."""
        raw = self._given(name, default)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise bad_request(f"query parameter {name!r} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise bad_request(f"query parameter {name!r} must be finite, got {raw!r}")
        return value


class DashboardPlugin(base_plugin.TBPlugin):
    """What every tb_nnvis plugin tells TensorBoard: a tab (``tab_name``) loaded as an ES module from
    ``/index.js``, shown when the data provider has data for ``plugin_name``."""

    tab_name = None

    def is_active(self):
        return False  # TensorBoard asks the data provider whether our plugin has data

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=self.tab_name)


def frontend_root():
    """Where the browser code lives: ``tb_nnvis/frontend`` when installed, ``frontend/`` in a checkout."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(package, "frontend"), os.path.join(os.path.dirname(package), "frontend")):
        if os.path.isfile(os.path.join(candidate, "shared", "api.js")):
            return candidate
    raise RuntimeError(f"tb_nnvis frontend files not found next to {package}; reinstall tb_nnvis")


def static_file(relative):
    """``(bytes, content_type)`` of a frontend file; 404 for anything outside the frontend folder."""
    root = frontend_root()
    clean = posixpath.normpath("/" + relative).lstrip("/")
    if not clean or clean.startswith("..") or "\\" in relative or "\x00" in relative:
        raise not_found(f"no static file {relative!r}")
    path = os.path.realpath(os.path.join(root, *clean.split("/")))
    if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
        raise not_found(f"no static file {relative!r}")
    with open(path, "rb") as f:
        data = f.read()
    kind = "text/javascript" if path.endswith(".js") else (mimetypes.guess_type(path)[0] or "application/octet-stream")
    return data, kind


def sample_limit(context_hints, plugin_name, data_class, data_provider=None):
    """How many steps per series TensorBoard keeps for this plugin (the ``--samples_per_plugin`` hint, else
    the loader's default: pass the plugin's ``data_provider`` so that the Rust loader's is known)."""
    hint = (context_hints or {}).get(plugin_name)
    if hint:
        return int(hint)
    from tensorboard.backend.event_processing import data_provider as python_loader

    python = data_provider is None or isinstance(data_provider, python_loader.MultiplexerDataProvider)
    return (DEFAULT_SAMPLES if python else RUST_DEFAULT_SAMPLES)[data_class]


def sample_hint(plugin_name, loaded):
    return (f"Start TensorBoard with --samples_per_plugin={plugin_name}={max(200, 2 * loaded)} "
            "to load more steps.")


class LRUCache:
    """A small thread-safe LRU of decoded data: every view of a step reads the same decoded values.

    >>> cache = LRUCache(size=1)
    >>> cache.get("a", lambda: 1), cache.get("a", lambda: 2), cache.get("b", lambda: 3), cache.get("a", lambda: 4)
    (1, 1, 3, 4)
    """

    def __init__(self, size=512, weigh=None):
        """``size``: how many items, or with ``weigh(value)`` (e.g. bytes) how much weight, to keep."""
        self._items, self._size, self._lock = collections.OrderedDict(), size, threading.Lock()
        self._weigh, self._weight = weigh or (lambda value: 1), 0
        self._loading = {}  # key: Future of a load in progress, which other askers wait for

    def get(self, key, load):
        """The value for ``key``, made by ``load()`` when absent (outside the lock: loads may be slow; two
        requests that need the same value at once load it once)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            pending = self._loading.get(key)
            if pending is None:
                self._loading[key] = mine = concurrent.futures.Future()
        if pending is not None:
            return pending.result()
        try:
            value = load()
        except BaseException as e:
            with self._lock:
                del self._loading[key]
            mine.set_exception(e)
            raise
        with self._lock:
            del self._loading[key]
            self._items[key] = value
            self._weight += self._weigh(value)
            while self._weight > self._size and len(self._items) > 1:
                self._weight -= self._weigh(self._items.popitem(last=False)[1])
        mine.set_result(value)
        return value


class _Frontend:
    """The routes that serve one tab's browser code (see :func:`frontend_apps`)."""

    def __init__(self, tab):
        self.tab = tab

    @route
    def index(self, request):
        return static_file(f"{self.tab}/index.js")[0], "text/javascript"

    @route
    def static(self, request):
        prefix = "/static/"
        return static_file(request.path[request.path.index(prefix) + len(prefix):])


def frontend_apps(tab):
    """``{"/index.js", "/static/*"}`` routes for a plugin's ``get_plugin_apps``: ``frontend/<tab>/index.js``
    (the module TensorBoard loads) and every frontend file under ``/static/``."""
    frontend = _Frontend(tab)
    return {"/index.js": frontend.index, "/static/*": frontend.static}

"""Test helpers: a real ``tensorboard`` process on a logdir, HTTP requests to it, and logdir writers."""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tensorboard(logdir, load_fast="false", extra=(), plugin="nnvis_activations"):
    """Start ``tensorboard`` on ``logdir`` (loopback, free port) and yield its base URL once it answers
    and lists ``plugin`` as enabled (it has loaded that plugin's data)."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    cmd = [exe, "--logdir", str(logdir), "--port", str(port), "--host", "127.0.0.1",
           f"--load_fast={load_fast}", "--reload_interval=1", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError("tensorboard exited: " + proc.stderr.read().decode()[-3000:])
            try:
                listing = json.loads(get(base, "/data/plugins_listing")[2])
                if listing.get(plugin, {}).get("enabled"):
                    break
            except (OSError, ValueError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"tensorboard did not list {plugin} as enabled in 90 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def get(base, path, **params):
    """``(status, content type, body)`` of a GET; 4xx/5xx are returned, not raised."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def get_json(base, path, **params):
    status, kind, body = get(base, path, **params)
    assert status == 200, f"{path} {params}: {status} {body[:300]!r}"
    assert kind.startswith("application/json"), kind
    return json.loads(body)


def write_pb(logdir, summaries_by_step):
    """Write ``{step: [Summary proto, ...]}`` to an event file with TensorBoard's own writer (no TF)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for step, summaries in sorted(summaries_by_step.items()):
        for s in summaries:
            writer.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=s))
    writer.close()


def nonfinite_maps():
    """``[2, 4, 4, 3]`` maps with NaN, +Inf and -Inf in unit 1 of probe 0 and a whole NaN unit 2."""
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3) / 10
    x[0, 0, 0, 1], x[0, 0, 1, 1], x[0, 1, 0, 1] = np.nan, np.inf, -np.inf
    x[:, :, :, 2] = np.nan
    return x

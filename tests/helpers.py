"""Test helpers: a real ``tensorboard`` process on a logdir, HTTP requests to it, and logdir writers."""
import contextlib
import functools
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


# ---- RNN cells tab ------------------------------------------------------------------------------------

QUOTE_TEXTS = ['x = "hello" + y\nprint("a b c")\n', 'if z:\n    s = "q" * 3  # "<b>bold</b>"\n']
QUOTE_CELL = 3


def quote_vocabulary():
    """The characters of :data:`QUOTE_TEXTS`, sorted, with ``"\\0"`` (padding) first."""
    return ["\0"] + sorted(set("".join(QUOTE_TEXTS)))


def quote_lstm(units=8, seed=0):
    """A character model (one-hot Embedding, LSTM, Dense over the vocabulary) whose LSTM cell
    :data:`QUOTE_CELL` is set by hand to be on (tanh(c) = +0.76) inside double quotes and off (-0.76)
    outside: at a quote the forget gate closes, the input gate opens and the candidate is -sign(h); at
    any other character the cell keeps its state. The other cells have small random weights."""
    import keras

    vocab = quote_vocabulary()
    v, q, k = len(vocab), vocab.index('"'), QUOTE_CELL
    rng = np.random.default_rng(seed)
    inp = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(v, v, name="onehot")
    lstm = keras.layers.LSTM(units, return_sequences=True, name="lstm")
    model = keras.Model(inp, keras.layers.Dense(v, name="next")(lstm(emb(inp))))
    emb.set_weights([np.eye(v, dtype="float32")])
    kernel = rng.normal(0, 0.3, (v, 4 * units)).astype("float32")
    recurrent = rng.normal(0, 0.3, (units, 4 * units)).astype("float32")
    bias = rng.normal(0, 0.1, 4 * units).astype("float32")
    i, f, c, o = k, units + k, 2 * units + k, 3 * units + k
    for col in (i, f, c, o):
        kernel[:, col], recurrent[:, col], bias[col] = 0, 0, 0
    recurrent[k, :] = 0                  # no other cell reads the quote cell
    kernel[q, i], bias[i] = 20, -10      # input gate open only at a quote
    kernel[q, f], bias[f] = -20, 10      # forget gate closed only at a quote
    kernel[q, c], recurrent[k, c] = 5, -20  # candidate: +1 when the cell was off, -1 when on
    bias[o] = 10                         # output gate always open
    lstm.set_weights([kernel, recurrent, bias])
    return model, vocab


def quote_ids(texts=QUOTE_TEXTS):
    """Character ids of ``texts`` under :func:`quote_vocabulary`, padded with 0 to the longest."""
    vocab = quote_vocabulary()
    ids = np.zeros((len(texts), max(len(t) for t in texts)), "int32")
    for row, text in enumerate(texts):
        ids[row, :len(text)] = [vocab.index(ch) for ch in text]
    return ids


# ---- SpRAy (Relevance tab) -----------------------------------------------------------------------------

SHORTCUT_SIZE = 16


@functools.lru_cache(maxsize=1)
def shortcut_model():
    """A small CNN trained (once per test process) on 16-pixel images of :mod:`demo.shortcut`'s six classes,
    where 30% of the rings carry a planted mark in a corner (and a faint ring): it learns to use the mark."""
    import keras

    from demo import shortcut

    keras.utils.set_random_seed(0)
    x, y, _ = shortcut.make_images(900, size=SHORTCUT_SIZE, seed=0, faint=0.1)
    model = keras.Sequential([
        keras.Input((SHORTCUT_SIZE, SHORTCUT_SIZE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(len(shortcut.CLASSES), name="logits"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model


def shortcut_rings(fraction=0.3, seed=1):
    """``(rings [N, 16, 16, 3], marked [N])``: the ring class of a fresh sample (N = 150 of 900)."""
    from demo import shortcut

    x, y, marked = shortcut.make_images(900, size=SHORTCUT_SIZE, seed=seed, fraction=fraction, faint=0.1)
    return x[y == shortcut.RING], marked[y == shortcut.RING]

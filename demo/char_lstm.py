"""A character-level LSTM trained on Python's own standard-library sources, with RNNCellsCallback.

Reads the sources from the installed Python (no download), trains next-character prediction for a time
budget, and logs the cells' traces over probe texts with quotes, brackets, if-blocks and long lines, as
in Karpathy, Johnson and Fei-Fei (2015).

    python demo/char_lstm.py --logdir logs --seconds 75
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBES = [
    'def greet(name, punct="!"):\n    if not name:\n        raise ValueError("empty name")\n'
    '    return "Hello, " + name + punct\n',
    "for i, (key, value) in enumerate(sorted(items.items())):\n    if value is None and (key[0] == '_'):\n"
    "        continue\n    result.append((key, compute(value, [i, i + 1], {'x': i})))\n",
    "class Config:\n    # A long comment line that goes on and on past the eightieth column, to see the line-length cell\n"
    '    def __init__(self, path="settings.ini", strict=False):\n        self.path = path\n',
]
MODULES = ["textwrap.py", "string.py", "shlex.py", "fnmatch.py", "calendar.py", "argparse.py", "json", "csv.py",
           "difflib.py", "pprint.py", "configparser.py", "dataclasses.py", "inspect.py", "pathlib"]


def stdlib_text(max_chars=600_000):
    """Sources of some standard-library modules of the running Python, concatenated (deterministic)."""
    root = os.path.dirname(os.__file__)
    parts, total = [], 0
    for name in MODULES:
        path = os.path.join(root, name)
        files = [path] if path.endswith(".py") else sorted(
            os.path.join(path, f) for f in (os.listdir(path) if os.path.isdir(path) else []) if f.endswith(".py"))
        for f in files:
            if os.path.isfile(f):
                with open(f, encoding="utf-8", errors="replace") as fh:
                    parts.append(fh.read())
                total += len(parts[-1])
        if total >= max_chars:
            break
    return "\n".join(parts)[:max_chars]


def vocabulary(text):
    """Printable ASCII plus newline and tab, with '[UNK]' for anything else (index 0 is padding)."""
    chars = sorted({c for c in text if (32 <= ord(c) < 127) or c in "\n\t"})
    return ["\0", "[UNK]"] + chars


def time_budget(seconds):
    """A callback that stops training after ``seconds`` (checked at each batch), so the demo fits its
    time on any CPU."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.time()

        def on_train_batch_end(self, batch, logs=None):
            if time.time() - self.start > seconds:
                self.model.stop_training = True

    return TimeBudget()


def write_logs(logdir, seconds=75, seq=100, batch=64, seed=0):
    """Train the character LSTM for about ``seconds`` and write ``<logdir>/char_lstm``; returns the model."""
    import keras

    import tb_nnvis

    keras.utils.set_random_seed(seed)
    text = stdlib_text()
    vocab = vocabulary(text)
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index.get(c, 1) for c in text], dtype="int32")
    n = (len(ids) - 1) // seq
    x = ids[: n * seq].reshape(n, seq)
    y = ids[1: n * seq + 1].reshape(n, seq)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(len(vocab), 32, name="embed"),
        keras.layers.LSTM(128, return_sequences=True, name="lstm"),
        keras.layers.Dense(len(vocab), name="next_char"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    run = os.path.join(logdir, "char_lstm")
    model.fit(x, y, batch_size=batch, epochs=1000, verbose=2, callbacks=[
        keras.callbacks.TensorBoard(run),
        tb_nnvis.keras.RNNCellsCallback(run, PROBES, vocabulary=vocab, every_n_batches=50),
        time_budget(seconds),
    ])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--seconds", type=float, default=75)
    args = parser.parse_args()
    write_logs(args.logdir, args.seconds)


if __name__ == "__main__":
    main()

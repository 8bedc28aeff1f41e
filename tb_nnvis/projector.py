"""A layer's activations in TensorBoard's own Projector tab (PCA, t-SNE, UMAP), for Keras 3 models.

Keras 3's ``TensorBoard(embeddings_freq=...)`` no longer reaches the Projector. :func:`log_activations`
writes what the Projector reads into a run's directory: ``projector_config.pbtxt`` and, under
``projector/``, one tensor TSV per (layer, step), a metadata TSV (index, label) and a sprite of the
inputs. Each call adds one embedding, named ``"<layer> @ step <step>"``, beside those already there,
so several layers and steps can be compared in the Projector's tensor menu.

Example:

>>> import keras, numpy as np, tempfile
>>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"),
...                           keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
>>> x, y = np.random.rand(20, 8, 8, 1).astype("float32"), np.arange(20) % 2
>>> log_activations(tempfile.mkdtemp(), model, "conv", x, labels=y, step=0)
'conv @ step 0'
"""
import hashlib
import os
import re

import numpy as np

from tb_nnvis.core import projector as core

CONFIG_FILE = "projector_config.pbtxt"
ASSETS_DIR = "projector"


def log_activations(log_dir, model, layer, inputs, labels=None, images=None, max_points=10000, step=None,
                    spatial="mean", batch_size=256, event_file=True):
    """Write ``layer``'s activations on ``inputs`` for TensorBoard's Projector; returns the embedding name.

    Args:
      log_dir: the run's directory (the Projector lists a run only when it also holds an event file;
        one is created if there is none).
      model: a built Keras 3 model (Sequential, Functional, nested models and shared layers work).
      layer: a layer name, path (``"block/conv"``) or layer object, as in :mod:`tb_nnvis.core.taps`.
      inputs: the dataset, a numpy array (or a list of arrays for a multi-input model).
      labels: optional, one per input (class ids or names): the Projector colours and searches by them.
      images: thumbnails for the sprite, one per input; None uses ``inputs`` when they are images,
        False writes no sprite.
      max_points: at most this many inputs (a fixed random subset; labels and images follow it).
      step: the training step in the embedding's name; None for the optimizer's iteration count.
      spatial: how outputs with spatial or time axes become one point: ``"mean"``, ``"max"`` or ``"flatten"``.
      batch_size: inputs per forward pass.
      event_file: create an (empty) event file when the run has none; callbacks that write their own
        event file pass False.
    """
    import tensorflow as tf

    from tb_nnvis.core import taps

    batch = [np.asarray(x) for x in inputs] if isinstance(inputs, (list, tuple)) else np.asarray(inputs)
    first = batch[0] if isinstance(batch, list) else batch
    count = len(first)
    if count == 0:
        raise ValueError("inputs must hold at least one example")
    for what, values in (("labels", labels), ("images", images)):
        if values is not None and values is not False and len(values) != count:
            raise ValueError(f"{what} has {len(values)} rows for {count} inputs; pass one per input")
    keep = core.subsample(count, max_points)
    paths = taps.resolve(model, [layer])
    if len(paths) != 1:
        raise ValueError(f"layer {layer!r} is called {len(paths)} times; name one call: {paths}")
    path = paths[0]
    tap = taps.TapModel(model, [path])
    outputs = []
    for start in range(0, len(keep), batch_size):
        rows = keep[start:start + batch_size]
        x = [b[rows] for b in batch] if isinstance(batch, list) else batch[rows]
        outputs.append(np.asarray(tap(x)[path]))
    points = core.embedding_points(np.concatenate(outputs), spatial)

    if step is None:
        optimizer = getattr(model, "optimizer", None)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
    name = f"{path} @ step {int(step)}"
    log_dir = str(log_dir)
    assets = os.path.join(log_dir, ASSETS_DIR)
    tf.io.gfile.makedirs(assets)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path) + f"_step{int(step)}"
    _write(os.path.join(assets, stem + ".tsv"), core.tensor_tsv(points))
    meta_text = core.metadata_tsv(None if labels is None else np.asarray(labels)[keep], count=len(keep))
    meta_file = _by_content(assets, "metadata", ".tsv", meta_text.encode("utf-8"))

    sprite = None
    thumbs = first if images is None else images
    if images is not False and thumbs is not None:
        try:
            pixels, size = core.sprite_image(np.asarray(thumbs)[keep])
        except ValueError:
            if images is not None:
                raise
        else:
            from tb_nnvis.core import images as image_lib

            sprite = (_by_content(assets, "sprite", ".png", image_lib.encode_png(pixels)), size)

    _update_config(log_dir, name, f"{ASSETS_DIR}/{stem}.tsv", points.shape, f"{ASSETS_DIR}/{meta_file}", sprite)
    if event_file:
        _ensure_event_file(log_dir)
    return name


def _write(path, data):
    import tensorflow as tf

    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, mode) as f:
        f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _by_content(folder, prefix, suffix, data):
    """Write ``data`` once under a name made from its hash (the same inputs share one sprite/table)."""
    import tensorflow as tf

    name = f"{prefix}_{hashlib.sha1(data).hexdigest()[:12]}{suffix}"
    path = os.path.join(folder, name)
    if not tf.io.gfile.exists(path):
        _write(path, data)
    return name


def _update_config(log_dir, name, tensor_path, shape, metadata_path, sprite):
    """Add (or replace) one embedding in the run's ``projector_config.pbtxt``, keeping the others."""
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    path = os.path.join(log_dir, CONFIG_FILE)
    config = ProjectorConfig()
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "r") as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as e:
                raise ValueError(f"{path} is not a projector config ({e}); move it away to start afresh") from None
    kept = [e for e in config.embeddings if e.tensor_name != name]
    del config.embeddings[:]
    config.embeddings.extend(kept)
    embedding = config.embeddings.add(tensor_name=name, tensor_path=tensor_path, metadata_path=metadata_path)
    embedding.tensor_shape.extend([int(s) for s in shape])
    if sprite is not None:
        embedding.sprite.image_path = f"{ASSETS_DIR}/{sprite[0]}"
        embedding.sprite.single_image_dim.extend([int(s) for s in sprite[1]])
    _write(path, text_format.MessageToString(config))


def _ensure_event_file(log_dir):
    """The Projector lists only runs that TensorBoard knows, i.e. directories with an event file."""
    import tensorflow as tf

    if not tf.io.gfile.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        writer = tf.summary.create_file_writer(log_dir)
        writer.flush()
        writer.close()

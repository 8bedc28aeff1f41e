"""Keras callbacks that write tb_nnvis summaries during ``model.fit``.

>>> import keras, numpy as np, tempfile, tb_nnvis
>>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
...                           keras.layers.Flatten(), keras.layers.Dense(2)])
>>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
>>> x, y = np.random.rand(32, 8, 8, 1).astype("float32"), np.random.randint(0, 2, 32)
>>> cb = tb_nnvis.keras.ActivationsCallback(tempfile.mkdtemp(), probes=x[:4])
>>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
>>> cb.written_steps
[0, 1, 2]
"""
from tb_nnvis.core.graph_def import write_graph  # noqa: F401
from tb_nnvis.plugins.activations.callback import ActivationsCallback  # noqa: F401
from tb_nnvis.plugins.featvis.callback import FeatureVisCallback  # noqa: F401
from tb_nnvis.plugins.relevance.callback import RelevanceCallback  # noqa: F401
from tb_nnvis.plugins.rnn.callback import RNNCellsCallback  # noqa: F401

"""tb_nnvis: see inside the neural networks you train, in TensorBoard.

The package has three layers (see DESIGN in the repository):

- ``tb_nnvis.core``: the computation (layer taps, LRP, images), usable without TensorBoard.
- ``tb_nnvis.plugins``: one TensorBoard plugin per dashboard (metadata, summary, plugin).
- ``tb_nnvis.keras``: Keras callbacks that connect training to the summaries.

Heavy modules (TensorFlow, Keras) are imported lazily so that TensorBoard can load the plugins
without paying for them.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {"summary", "keras", "lrp", "core", "rnn", "projector", "featvis"}


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"tb_nnvis.{name}")
    raise AttributeError(f"module 'tb_nnvis' has no attribute {name!r}")

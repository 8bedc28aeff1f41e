"""Layer-wise Relevance Propagation for Keras 3 models: the public entry point.

See :mod:`tb_nnvis.core.lrp` for the rules, composites and canonizers.
"""
from tb_nnvis.core.lrp import *  # noqa: F401,F403

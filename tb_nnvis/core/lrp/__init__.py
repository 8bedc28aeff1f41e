"""Layer-wise Relevance Propagation for Keras 3 (rules, composites and canonizers as in zennit).

Usable without TensorBoard::

    from tb_nnvis.lrp import attribute
    relevance = attribute(model, images, target=None, composite="epsilon_plus")

See :func:`attribute`, :class:`Composite` and the rule classes.
"""
from .attention import AttnLRP, SoftmaxAttnLRP
from .composites import PRESETS, Composite
from .engine import attribute, explainer
from .errors import LRPError
from .intermediate import attribute_layers, unit_gradients, unit_heatmaps
from .normalization import LayerNormEpsilon
from .spray import SprayResult, spray
from .rules import (AlphaBeta, EmbeddingSum, Epsilon, Flat, Gamma, Norm, Pass, Product, RecurrentEpsilon, Route,
                    Rule, WSquare, ZBox, ZPlus, stabilize)

__all__ = ["attribute", "explainer", "attribute_layers", "unit_gradients", "unit_heatmaps", "Composite", "PRESETS", "LRPError",
           "Rule", "Epsilon", "Gamma", "AlphaBeta", "ZPlus", "ZBox", "Flat", "WSquare", "Pass", "Norm", "Route", "EmbeddingSum", "RecurrentEpsilon",
           "stabilize", "Product", "LayerNormEpsilon", "AttnLRP", "SoftmaxAttnLRP",
           "spray", "SprayResult"]

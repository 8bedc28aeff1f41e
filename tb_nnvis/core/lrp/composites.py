"""Which rule applies to which layer: by name, first layer, by type; and zennit's named presets.

Lookup order for one layer call: ``name_map`` → ``first_map`` (first Dense/conv in the graph that
matches it) → ``layer_map`` (yours, then the preset's) → the built-in map below (zennit's
``layer_map_base`` plus the layers zennit leaves to autograd). A fused activation split off a
Dense/conv always gets :class:`Pass`.

Example:
    >>> import keras
    >>> from tb_nnvis.lrp import Composite, Epsilon, Flat
    >>> c = Composite.preset("epsilon_plus", name_map={"logits": Epsilon(0.1)})
    >>> mine = Composite(layer_map={keras.layers.Dense: Epsilon()}, first_map={keras.layers.Dense: Flat()})
"""
import keras

from . import keras_ops
from .attention import AttnLRP, SoftmaxAttnLRP
from .normalization import LayerNormEpsilon
from .ops import CONVOLUTION, DENSE, LINEAR
from .rules import (AlphaBeta, EmbeddingSum, Epsilon, Flat, Gamma, GatedHalf, Indices, Norm, Pass, Product,
                    RecurrentEpsilon, Route, ZBox, ZPlus)


def _cls(*names):
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


ACTIVATION = _cls("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation")
IDENTITY = _cls("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "Masking")
BATCHNORM = _cls("BatchNormalization")
AVGPOOL = _cls("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
               "GlobalAveragePooling2D", "GlobalAveragePooling3D")
SUM = _cls("Add", "Average", "Subtract")
MOVE = _cls("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
            "GlobalMaxPooling3D", "Flatten", "Reshape", "Permute", "ZeroPadding1D", "ZeroPadding2D",
            "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Concatenate", "UpSampling1D",
            "UpSampling2D", "UpSampling3D", "RepeatVector", "Maximum", "Minimum")
RECURRENT = _cls("LSTM", "GRU", "Bidirectional")
LAYERNORM = _cls("LayerNormalization", "RMSNormalization")
MULTIPLY = _cls("Multiply")
ATTENTION = _cls("MultiHeadAttention", "Attention")


def _floating(tensor):
    return "float" in str(getattr(tensor, "dtype", ""))


def _entries(mapping):
    """{type or tuple of types (or name): rule} or [(key, rule), ...] -> [(tuple of keys, rule), ...]."""
    if mapping is None:
        return []
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return [(tuple(k) if isinstance(k, (tuple, list)) else (k,), rule) for k, rule in items]


class Composite:
    """A mapping from layers to rules.

    Args:
        layer_map: ``{LayerClass or (classes): rule}``; checked in order, before the built-in map.
        name_map: ``{"layer_name" or (names): rule}``; wins over everything.
        first_map: ``{LayerClass: rule}`` for the first Dense/convolution (in graph order) matching it.
        epsilon: ε given to LSTM/GRU (Arras et al.) unless their rule sets its own.
        stabilizer: stabiliser of the built-in :class:`Norm` (average pooling, Add).
        fold_batchnorm: fold BatchNormalization into the preceding Dense/conv (zennit's canonizer).

    Example:
        >>> import keras
        >>> from tb_nnvis.lrp import Composite, Epsilon, ZPlus
        >>> c = Composite(layer_map={keras.layers.Dense: Epsilon(), keras.layers.Conv2D: ZPlus()})
        >>> c.rule_for_layer(keras.layers.Dense(3))
        Epsilon(epsilon=1e-06)
    """

    def __init__(self, layer_map=None, name_map=None, first_map=None, epsilon=1e-6, stabilizer=1e-6,
                 fold_batchnorm=True, name="custom"):
        self.layer_map = _entries(layer_map)
        self.name_map = _entries(name_map)
        self.first_map = _entries(first_map)
        self.epsilon, self.stabilizer, self.fold_batchnorm, self.name = epsilon, stabilizer, fold_batchnorm, name
        self.base_map = [
            (ACTIVATION, Pass()), (IDENTITY, Pass()), (BATCHNORM, Pass()),
            (SUM, Norm(stabilizer)), (AVGPOOL, Norm(stabilizer)), (MOVE, Route()),
            (_cls("Embedding"), EmbeddingSum()), (RECURRENT, RecurrentEpsilon()),
            (keras_ops.PREPROCESSING, Pass()), (LAYERNORM, LayerNormEpsilon()), (MULTIPLY, Product()),
            (keras_ops.SUMS, Norm(stabilizer)), (keras_ops.PRODUCTS, Product()), (keras_ops.MOVES, Route()),
            (keras_ops.MEANS, Norm(stabilizer)), (keras_ops.ELEMENTWISE + keras_ops.OP_SOFTMAX, Pass()),
            (ATTENTION, AttnLRP()), (keras_ops.GLU, GatedHalf()),
        ]

    @classmethod
    def preset(cls, name, **kwargs):
        """A named composite (zennit's meaning); ``kwargs`` are the preset's parameters and optionally
        ``layer_map``/``name_map``/``first_map`` entries that take precedence over its own."""
        if name not in PRESETS:
            raise ValueError(f"Unknown composite {name!r}; presets: {sorted(PRESETS)}")
        return PRESETS[name](**kwargs)

    def key(self):
        """Hashable identity of the mapping (the compiled function is cached per model and key)."""
        def frozen(entries):
            return tuple((k, repr(r)) for k, r in entries)
        return (frozen(self.name_map), frozen(self.first_map), frozen(self.layer_map),
                self.epsilon, self.stabilizer, self.fold_batchnorm)

    def matches_first(self, layer):
        return any(isinstance(layer, types) for types, _ in self.first_map)

    def rule_for_layer(self, layer, first=False):
        """The rule for a layer (``first``: it is the first Dense/conv matching ``first_map``), or None."""
        for names, rule in self.name_map:
            if layer.name in names:
                return rule
        if first:
            for types, rule in self.first_map:
                if isinstance(layer, types):
                    return rule
        for types, rule in self.layer_map + self.base_map:
            if all(isinstance(t, type) for t in types) and isinstance(layer, types):
                return rule
        return None

    def rule_for(self, step):
        if step.kind == "activation":
            return Pass()
        if step.node is not None and not any(_floating(t) for t in step.node.outputs):
            return Indices()  # integer outputs (positions, masks) carry no relevance
        return self.rule_for_layer(step.layer, step.first)

    def __repr__(self):
        return f"Composite({self.name})"


def _make(name, layer_rules, first_rules=(), epsilon=1e-6, stabilizer=1e-6, layer_map=None, name_map=None,
          first_map=None, fold_batchnorm=True):
    return Composite(layer_map=_entries(layer_map) + list(layer_rules), name_map=name_map,
                     first_map=_entries(first_map) + list(first_rules), epsilon=epsilon, stabilizer=stabilizer,
                     fold_batchnorm=fold_batchnorm, name=name)


def epsilon(epsilon=1e-6, **kw):
    """ε on every Dense and convolution."""
    return _make("epsilon", [(LINEAR, Epsilon(epsilon))], epsilon=epsilon, **kw)


def epsilon_plus(epsilon=1e-6, stabilizer=1e-6, **kw):
    """zennit ``EpsilonPlus``: z⁺ on convolutions, ε on Dense."""
    return _make("epsilon_plus", [(CONVOLUTION, ZPlus(stabilizer)), (DENSE, Epsilon(epsilon))],
                 epsilon=epsilon, stabilizer=stabilizer, **kw)


def epsilon_alpha2_beta1(epsilon=1e-6, stabilizer=1e-6, **kw):
    """zennit ``EpsilonAlpha2Beta1``: α2β1 on convolutions, ε on Dense."""
    return _make("epsilon_alpha2_beta1", [(CONVOLUTION, AlphaBeta(2, 1, stabilizer)), (DENSE, Epsilon(epsilon))],
                 epsilon=epsilon, stabilizer=stabilizer, **kw)


def epsilon_plus_flat(epsilon=1e-6, stabilizer=1e-6, **kw):
    """zennit ``EpsilonPlusFlat``: flat on the first Dense/conv, z⁺ on convolutions, ε on Dense."""
    return _make("epsilon_plus_flat", [(CONVOLUTION, ZPlus(stabilizer)), (DENSE, Epsilon(epsilon))],
                 [(LINEAR, Flat(stabilizer))], epsilon=epsilon, stabilizer=stabilizer, **kw)


def epsilon_alpha2_beta1_flat(epsilon=1e-6, stabilizer=1e-6, **kw):
    """zennit ``EpsilonAlpha2Beta1Flat``: flat on the first Dense/conv, α2β1 on convolutions, ε on Dense."""
    return _make("epsilon_alpha2_beta1_flat",
                 [(CONVOLUTION, AlphaBeta(2, 1, stabilizer)), (DENSE, Epsilon(epsilon))],
                 [(LINEAR, Flat(stabilizer))], epsilon=epsilon, stabilizer=stabilizer, **kw)


def epsilon_gamma_box(low, high, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, **kw):
    """zennit ``EpsilonGammaBox``: z^B on the first convolution, γ on other convolutions, ε on Dense."""
    return _make("epsilon_gamma_box", [(CONVOLUTION, Gamma(gamma, stabilizer)), (DENSE, Epsilon(epsilon))],
                 [(CONVOLUTION, ZBox(low, high, stabilizer))], epsilon=epsilon, stabilizer=stabilizer, **kw)


def attn_lrp(epsilon=1e-6, cp_lrp=False, **kw):
    """AttnLRP (Achtibat et al. 2024, as LXT): ε on every Dense/EinsumDense/convolution, LayerNorm with σ held
    constant, attention and softmax by AttnLRP's rules (``cp_lrp=True``: CP-LRP, attention weights as
    constants), products by the uniform rule, element-wise activations as identity."""
    return _make("attn_lrp", [(ATTENTION, AttnLRP(cp=cp_lrp)), (LAYERNORM, LayerNormEpsilon(epsilon)),
                              (_cls("Softmax") + keras_ops.OP_SOFTMAX, SoftmaxAttnLRP()), (LINEAR, Epsilon(epsilon))],
                 epsilon=epsilon, stabilizer=epsilon, **kw)


PRESETS = {f.__name__: f for f in (epsilon, epsilon_plus, epsilon_alpha2_beta1, epsilon_plus_flat,
                                   epsilon_alpha2_beta1_flat, epsilon_gamma_box, attn_lrp)}

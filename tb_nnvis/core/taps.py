"""Outputs of chosen layers of any Keras 3 model, in one forward pass.

A layer is addressed by its *path*: its name, prefixed by the names of the models it is nested in
(``"mobilenetv2_1.00_224/block_1_expand"``), and suffixed with ``:k`` for the k-th call of a shared
layer (``"shared_dense:1"``; the first call has no suffix). :func:`tap_model` builds one
``keras.Model`` from the model's inputs to all chosen outputs, reusing the model's weights, so
Sequential, Functional, nested and shared layers all cost a single forward pass.

Example:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"),
...                           keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
>>> [t.path for t in list_taps(model)]
['conv', 'out']
>>> taps = tap_model(model, ["conv"])
>>> outputs = taps(np.zeros((2, 8, 8, 1), "float32"))
>>> tuple(outputs["conv"].shape)
(2, 6, 6, 4)
"""
from typing import NamedTuple

import keras

# Layers whose output adds nothing to look at: identity at inference, or a reshuffle of its input.
_SKIP = (
    keras.layers.InputLayer,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.RepeatVector,
)

# Layers that finish another layer's work (normalise, activate): in a chain they fold into the layer before.
_FINISHING = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)
# Layers that prepare the next layer's input: in a chain they fold into the layer after.
_PREPARING = (
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
)

# Models with at most this many taps show every one of them by default; bigger ones their block outputs.
ALL_LAYERS_UP_TO = 32


class Tap(NamedTuple):
    """One layer call that can be tapped: its path, the layer, and the rank of its output."""

    path: str
    layer: object
    rank: int


def _graph(model):
    """The functional graph behind a model (a Sequential keeps one once it is built)."""
    if isinstance(model, keras.Sequential):
        if not model.built or getattr(model, "_functional", None) is None:
            raise ValueError(
                f"Sequential model {model.name!r} has no known input shape yet: start it with "
                "keras.Input(shape) or call model.build(input_shape) before tapping its layers.")
        return model._functional
    if not hasattr(model, "_nodes_by_depth") or not getattr(model, "inputs", None):
        raise ValueError(
            f"model {model.name!r} ({type(model).__name__}) is a subclassed keras.Model without a functional "
            "graph, so its layers cannot be tapped: build it with the Functional API (keras.Model(inputs, "
            "outputs)) or as a keras.Sequential")
    return model


def _calls(graph, layer):
    """The nodes at which ``layer`` is called inside ``graph``, in call order."""
    # Keras keys a graph's nodes as "<id of the layer>_ib-<index of the call>".
    return [node for i, node in enumerate(layer._inbound_nodes) if f"{id(layer)}_ib-{i}" in graph._nodes]


def _first_output(node):
    tensors = node.output_tensors
    return tensors[0] if tensors else None


def list_taps(model, include_all=False):
    """Every layer call of ``model`` (nested models expanded) whose output can be shown, in model order.

    By default skips inputs, dropout and noise layers, and reshapes (their output repeats another's),
    and outputs without a unit axis (rank < 2). ``include_all=True`` keeps them.
    """
    out = []
    _walk(model, "", out, include_all)
    return out


def _walk(model, prefix, out, include_all):
    graph = _graph(model)
    for layer in graph.operations:
        for k, node in enumerate(_calls(graph, layer)):
            suffix = f":{k}" if k else ""
            if isinstance(layer, keras.Model):
                # A nested model: its own layers are the taps (its output is its last layer's).
                _walk(layer, f"{prefix}{layer.name}{suffix}/", out, include_all)
                continue
            tensor = _first_output(node)
            rank = len(tensor.shape) if tensor is not None else 0
            if include_all or (rank >= 2 and not isinstance(layer, _SKIP)):
                out.append(Tap(prefix + layer.name + suffix, layer, rank))


def resolve(model, layers=None):
    """Paths of the taps named by ``layers``: None or ``"all"`` (every tap of :func:`list_taps`),
    ``"default"`` (:func:`default_taps`), ``"blocks"`` (:func:`block_taps`), or names, paths or layer objects.

    A plain layer name also finds a layer inside a nested model when only one layer has that name.
    Raises ValueError naming what is available when a layer is not found.
    """
    if layers is None or (isinstance(layers, str) and layers in _SELECTIONS):
        return [t.path for t in _SELECTIONS[layers or "all"](model)]
    taps = list_taps(model, include_all=True)
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    by_path = {t.path: t for t in taps}
    paths = []
    for want in layers:
        if isinstance(want, keras.layers.Layer):
            found = [t.path for t in taps if t.layer is want]
        elif ":" in want.rsplit("/", 1)[-1]:  # one call of a shared layer
            found = [want] if want in by_path else []
        else:  # every call of the layer, by path or by plain name
            found = [t.path for t in taps if t.path.split(":")[0] == want]
            found = found or [t.path for t in taps if t.path.rsplit("/", 1)[-1].split(":")[0] == want]
        if not found:
            names = ", ".join(t.path for t in taps[:30]) + (" ..." if len(taps) > 30 else "")
            raise ValueError(f"no layer {want!r} in model {model.name!r}; layers are: {names}")
        if isinstance(want, str) and len({p.split(":")[0] for p in found}) > 1:
            raise ValueError(f"layer name {want!r} is ambiguous in model {model.name!r}: "
                             f"use one of the paths {found}")
        paths.extend(p for p in found if p not in paths)
    return paths


def default_taps(model):
    """What is worth showing by default: every tap of a small model (up to :data:`ALL_LAYERS_UP_TO`), the
    block outputs (:func:`block_taps`) of a bigger one, such as a MobileNet or a ResNet.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="hidden"),
    ...                           keras.layers.Dense(1, name="out")])
    >>> [t.path for t in default_taps(model)]
    ['hidden', 'out']
    """
    taps = list_taps(model)
    return taps if len(taps) <= ALL_LAYERS_UP_TO else block_taps(model)


def block_taps(model):
    """The outputs of the model's blocks, nested models expanded.

    A block output is a layer call that every path from the inputs to the outputs goes through (the
    ``Add`` of a residual block, a concatenation of branches, each layer of a plain chain), where a run of
    such calls is kept only at its end when they belong together: a layer and those that finish its work
    (batch normalisation, activation) or prepare it (padding), and the layers of one named block (``block_1_expand``,
    ``block_1_expand_BN``, ... ``block_1_project_BN``; ``conv2_block1_add``, ``conv2_block1_out``).

    >>> import keras
    >>> x = keras.Input((8, 8, 3))
    >>> h = keras.layers.Conv2D(4, 3, padding="same", name="stem_conv")(x)
    >>> h = keras.layers.ReLU(name="stem_relu")(keras.layers.BatchNormalization(name="stem_bn")(h))
    >>> r = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv")(h)
    >>> h = keras.layers.Add(name="block1_add")([h, keras.layers.BatchNormalization(name="block1_bn")(r)])
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D(name="gap")(h)))
    >>> [t.path for t in block_taps(model)]
    ['stem_relu', 'block1_add', 'gap', 'head']
    """
    out = []
    _blocks(model, "", out)
    return out


_SELECTIONS = {"all": list_taps, "default": default_taps, "blocks": block_taps}


def _ordered_nodes(graph):
    """``(node, layer, call index)`` of every layer call of a functional graph, inputs first."""
    index = {}
    for layer in graph.operations:
        for k, node in enumerate(_calls(graph, layer)):
            index[id(node)] = (node, layer, k)
    order = []
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        order.extend(index[id(n)] for n in graph._nodes_by_depth[depth] if id(n) in index)
    return order


def _cuts(graph, nodes):
    """ids of the nodes that every path from the graph's inputs to its outputs goes through.

    Walks the nodes in topological order with the set of tensors still waiting for a consumer: a node is a
    cut when, right after it, its outputs are the only such tensors.
    """
    waiting = {}
    for node, _, _ in nodes:
        for t in node.input_tensors:
            waiting[id(t)] = waiting.get(id(t), 0) + 1
    for t in graph.outputs:
        waiting[id(t)] = waiting.get(id(t), 0) + 1
    open_ = {}
    cuts = set()
    for node, _, _ in nodes:
        for t in node.input_tensors:
            if id(t) in open_:
                open_[id(t)] -= 1
                if not open_[id(t)]:
                    del open_[id(t)]
        outs = {id(t) for t in node.output_tensors if waiting.get(id(t))}
        for t in outs:
            open_[t] = waiting[t]
        if outs and set(open_) == outs and node.input_tensors:
            cuts.add(id(node))
    return cuts


def _block_key(name):
    """The numbered block a layer name belongs to: ``block_1_expand_BN`` -> ``block_1``,
    ``conv2_block1_out`` -> ``conv2_block1``, ``Conv_1_bn`` -> ``Conv_1``; None without a number."""
    tokens = name.split("_")
    has_digit = [any(c.isdigit() for c in t) for t in tokens]
    if True not in has_digit:
        return None
    end = has_digit.index(True)
    while end + 1 < len(tokens) and has_digit[end + 1]:
        end += 1
    return "_".join(tokens[: end + 1])


def _same_block(a, b):
    """Whether two layer names belong to one block: the same numbered block, or two leading words in common
    (``expanded_conv_depthwise`` and ``expanded_conv_project``)."""
    ka = _block_key(a)
    if ka is not None and ka == _block_key(b):
        return True
    ta, tb = a.split("_"), b.split("_")
    return len(ta) > 2 and len(tb) > 2 and ta[:2] == tb[:2]


def _blocks(model, prefix, out):
    graph = _graph(model)
    nodes = _ordered_nodes(graph)
    cuts = _cuts(graph, nodes)
    group = []  # (tap, node) of the current run of block members; its last eligible tap is the block's output

    def flush():
        if group:
            out.append(group[-1][0])
            group.clear()

    for node, layer, k in nodes:
        suffix = f":{k}" if k else ""
        if isinstance(layer, keras.Model):
            flush()
            _blocks(layer, f"{prefix}{layer.name}{suffix}/", out)
            continue
        tensor = _first_output(node)
        rank = len(tensor.shape) if tensor is not None else 0
        if id(node) not in cuts or rank < 2 or isinstance(layer, _SKIP):
            continue
        if group:
            last_layer, last_node = group[-1][0].layer, group[-1][1]
            follows = any(t is o for t in node.input_tensors for o in last_node.output_tensors)
            chained = follows and (isinstance(layer, _FINISHING) or isinstance(last_layer, _PREPARING))
            if not (chained or any(_same_block(tap.layer.name, layer.name) for tap, _ in group)):
                flush()
        group.append((Tap(prefix + layer.name + suffix, layer, rank), node))
    flush()


def _symbolic(model, wanted, prefix="", pick=None):
    """KerasTensors, in ``model``'s own graph, for the wanted paths under ``prefix``.

    ``pick(node)`` chooses what of a layer call to return (default: its first output); it may return a
    list of KerasTensors, e.g. a call's input and mask (:mod:`tb_nnvis.core.rnn` does).
    """
    pick = pick or _first_output
    graph = _graph(model)
    found = {}
    for layer in graph.operations:
        for k, node in enumerate(_calls(graph, layer)):
            path = prefix + layer.name + (f":{k}" if k else "")
            if isinstance(layer, keras.Model):
                inner = [w for w in wanted if w.startswith(path + "/")]
                if not inner:
                    continue
                inner_tensors = _symbolic(layer, inner, path + "/", pick)
                # Re-call a model of the nested taps on this call's inputs: the result lives in our graph.
                sub = keras.Model(_graph(layer).inputs, [inner_tensors[w] for w in inner])
                args = node.arguments.args
                outs = sub(args[0] if len(args) == 1 else list(args))
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                found.update(zip(inner, outs))
            elif path in wanted:
                found[path] = pick(node)
    return found


class TapModel:
    """Calls ``model`` once and returns ``{path: output}`` for the chosen layers.

    Built by :func:`tap_model`. The forward pass runs in inference mode: eagerly until a background thread
    has traced it, then compiled (see :class:`tb_nnvis.core.compiled.TracedLater`), so that a callback's
    writes neither wait for tracing nor pay for eager passes once it is done.
    """

    def __init__(self, model, paths):
        from tb_nnvis.core.compiled import TracedLater

        self.paths = list(paths)
        tensors = _symbolic(model, set(self.paths))
        graph = _graph(model)
        inputs = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs  # a list of one warns on call
        self.model = keras.Model(inputs, [tensors[p] for p in self.paths])
        self._forward = TracedLater(lambda x: self.model(x, training=False))

    def __call__(self, x):
        outs = self._forward(x)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return dict(zip(self.paths, outs))


def tap_model(model, layers=None):
    """A :class:`TapModel` for the layers named by ``layers`` (see :func:`resolve`)."""
    return TapModel(model, resolve(model, layers))

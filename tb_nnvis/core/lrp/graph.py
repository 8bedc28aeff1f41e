"""Flatten a Keras 3 model (Sequential, Functional, nested, shared layers) into a list of steps.

Each step is one call of one layer: it reads tensors by key and writes tensors by key. Nested models
are inlined, so the engine sees one flat graph; a layer called twice gives two steps.
"""
import keras
import tensorflow as tf
from keras import tree
from keras.src.backend import get_keras_mask

from .errors import LRPError


class Step:
    """One layer call. ``op``: its linear map (Dense/conv) or None; ``fn``: a plain function to apply
    instead of the layer (a split-off fused activation); ``node``: the Keras node (arguments)."""

    def __init__(self, layer, inputs, outputs, node=None, in_ids=None, op=None, fn=None, kind="layer"):
        self.layer, self.inputs, self.outputs = layer, list(inputs), list(outputs)
        self.node, self.in_ids = node, in_ids
        self.op, self.fn, self.kind = op, fn, kind
        self.first = False  # set for the first linear step matching the composite's first_map
        self.in_masks = []  # Keras masks of the inputs at the last call

    @property
    def name(self):
        return self.layer.name

    def call(self, xs):
        """The step's outputs as a list, recomputed from its inputs ``xs``."""
        if self.op is not None:
            w, b = self.op.params()
            return [self.op.forward(xs[0], w, b)]
        if self.fn is not None:
            return [self.fn(xs[0])]
        values = dict(zip(self.in_ids, xs))
        args, kwargs = self.node.arguments.fill_in(values)
        # Keras masks (Embedding(mask_zero=True)) ride on the tensors; layers such as MultiHeadAttention
        # consume them during the call, so keep them for the rule of this step.
        self.in_masks = [get_keras_mask(x) for x in xs]
        return [tf.convert_to_tensor(t) for t in tree.flatten(self.layer(*args, **kwargs))]

    def arguments(self, xs):
        """The call's (args, kwargs) with the recomputed inputs ``xs`` in place of the graph's tensors."""
        return self.node.arguments.fill_in(dict(zip(self.in_ids, xs)))

    def vjp(self, xs, grads):
        """Gradient of Σ_k outputs_k·grads_k with respect to each input (None-grads count as zero)."""
        xs = [tf.convert_to_tensor(x) for x in xs]
        float_in = [x for x in xs if x.dtype.is_floating]
        with tf.GradientTape() as tape:
            tape.watch(float_in)
            outs = self.call(xs)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
        res = tape.gradient([o for o, _ in pairs], float_in, output_gradients=[g for _, g in pairs])
        it = iter(res)
        out = []
        for x in xs:
            if x.dtype.is_floating:
                g = next(it)
                out.append(tf.zeros_like(x) if g is None else g)
            else:
                out.append(None)
        return out

    def __repr__(self):
        return f"Step({self.kind}:{self.name} {self.inputs}->{self.outputs})"


class Program:
    """The flat graph: model input keys, output keys, steps in a valid execution order."""

    def __init__(self, model):
        self.model = model
        self.steps = []
        self._next = 0
        graph = _functional(model)
        self.inputs = [self._key() for _ in graph.inputs]
        self.input_specs = [(tuple(t.shape), t.dtype) for t in graph.inputs]
        self.outputs = self._expand(graph, self.inputs)

    def _key(self):
        self._next += 1
        return self._next

    def _expand(self, graph, in_keys):
        local = {id(t): k for t, k in zip(graph.inputs, in_keys)}
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in graph._nodes_by_depth[depth]:
                if node.operation is None or node.is_input:
                    continue
                if any(id(t) not in local for t in node.input_tensors):
                    continue
                ins = [local[id(t)] for t in node.input_tensors]
                op = node.operation
                if isinstance(op, keras.Model):
                    outs = self._expand(_functional(op), ins)
                else:
                    outs = [self._key() for _ in node.outputs]
                    self.steps.append(Step(op, ins, outs, node=node, in_ids=[id(t) for t in node.input_tensors]))
                for t, k in zip(node.outputs, outs):
                    local[id(t)] = k
        return [local[id(t)] for t in graph.outputs]

    def consumers(self, key):
        return [s for s in self.steps if key in s.inputs]

    def producer(self, key):
        return next((s for s in self.steps if key in s.outputs), None)


def _functional(model):
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise LRPError(f"Sequential model {model.name!r} has no graph yet: give it a keras.Input(...) "
                           f"first layer or call it once on data before explaining it.")
        return graph
    if not hasattr(model, "_nodes_by_depth") or not hasattr(model, "inputs") or not model.inputs:
        raise LRPError(f"Model {model.name!r} ({type(model).__name__}) is a subclassed model without a "
                       f"functional graph; LRP needs a Sequential or Functional model.")
    return model

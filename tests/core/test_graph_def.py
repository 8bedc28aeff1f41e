"""Keras 3 models as GraphDefs: nodes, edges, groups, shapes and parameter counts. What a real ``tensorboard``
serves from them is checked in tests/plugins/test_weights_http.py (both loaders, the callback's graph) and
tests/browser/test_tb_tabs_ui.py (the Graphs tab, from write_graph)."""
import keras
import numpy as np
import pytest

from tb_nnvis.core import graph_def


def residual_model():
    """A Functional model with a nested Functional block, a residual Add, a shared Dense and a nested
    Sequential head: every structure the converter must get right."""
    inp = keras.Input((8, 8, 3), name="img")
    sub_in = keras.Input((8, 8, 4), name="block_in")
    block = keras.Model(sub_in, keras.layers.Conv2D(4, 3, padding="same", name="block_conv")(sub_in), name="block")
    stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    res = keras.layers.Add(name="residual")([stem, block(stem)])
    gap = keras.layers.GlobalAveragePooling2D(name="gap")(res)
    shared = keras.layers.Dense(4, name="shared")
    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head_dense")], name="head")
    return keras.Model(inp, head(shared(shared(gap))), name="net")


def nodes(graph):
    return {n.name: n for n in graph.node}


def test_functional_nodes_edges_and_nested_groups():
    model = residual_model()
    g = nodes(graph_def.model_to_graph_def(model))
    head_in = [n for n in g if n.startswith("head/input_layer")]  # Keras numbers input layers
    assert len(head_in) == 1
    assert set(g) - set(head_in) == {"img", "stem", "block/block_in", "block/block_conv",
                                     "residual", "gap", "shared", "head/head_dense"}
    assert list(g["residual"].input) == ["stem", "block/block_conv"]  # the residual branch
    assert list(g["block/block_in"].input) == ["stem"]                    # into the nested group
    assert list(g["shared"].input) == ["gap", "shared"]               # a shared layer, once
    assert list(g[head_in[0]].input) == ["shared"]
    assert list(g["head/head_dense"].input) == head_in
    assert g["residual"].op == "Add" and g["stem"].op == "Conv2D"


def test_shapes_and_parameter_counts_match_the_layers():
    model = residual_model()
    g = nodes(graph_def.model_to_graph_def(model))
    for path, layer in [("stem", model.get_layer("stem")), ("shared", model.get_layer("shared")),
                        ("block/block_conv", model.get_layer("block").get_layer("block_conv")),
                        ("head/head_dense", model.get_layer("head").get_layer("head_dense"))]:
        expected = sum(w.size for w in layer.get_weights())
        assert g[path].attr["parameters"].i == expected > 0
        assert g[path].attr["trainable_parameters"].i == expected
    assert g["stem"].attr["output_shape"].s == b"(None, 8, 8, 4)"
    dims = [d.size for d in g["stem"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [-1, 8, 8, 4]
    assert g["residual"].attr["parameters"].i == 0


def test_batchnorm_counts_non_trainable_parameters():
    model = keras.Sequential([keras.Input((5,)), keras.layers.BatchNormalization(name="bn")], name="s")
    node = nodes(graph_def.model_to_graph_def(model))["bn"]
    assert (node.attr["parameters"].i, node.attr["trainable_parameters"].i) == (20, 10)


def test_unbuilt_and_subclassed_models_get_clear_errors():
    with pytest.raises(graph_def.GraphError, match="no known input shape yet.*keras.Input"):
        graph_def.model_to_graph_def(keras.Sequential([keras.layers.Dense(2)], name="lazy"))

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.ones((1, 3), "float32"))
    with pytest.raises(graph_def.GraphError, match="'subclassed'.*subclassed keras.Model.*Functional API"):
        graph_def.model_to_graph_def(net)

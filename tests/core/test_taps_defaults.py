"""What the Activations callback taps by default: every layer of a small model, the block outputs of a
MobileNetV2 or a ResNet50, with the full list one argument away."""
import keras
import numpy as np
import pytest

from tb_nnvis.core import taps


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=5)


def test_mobilenet_defaults_to_its_block_outputs(mobilenet):
    paths = taps.resolve(mobilenet, "default")
    blocks = [f"block_{b}_add" if b in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15) else f"block_{b}_project_BN"
              for b in range(1, 17)]
    pooling = mobilenet.layers[-2].name  # Keras numbers its auto-named layers per process (…_2d_14)
    assert pooling.startswith("global_average_pooling2d")
    assert paths == ["Conv1_relu", "expanded_conv_project_BN", *blocks, "out_relu", pooling, "predictions"]
    # the full list is one argument away, and resolve(model) still means every layer
    assert len(taps.resolve(mobilenet, "all")) == len(taps.resolve(mobilenet)) == 155


def test_block_outputs_are_the_layers_every_path_goes_through(mobilenet):
    """Independently of names: a block output's removal disconnects the input from the output (every path
    goes through it), which is never true of a layer inside a residual block."""
    graph = {}
    for layer in mobilenet.layers:
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                graph.setdefault(t._keras_history.operation.name, set()).add(layer.name)

    def reaches(start, goal, removed):
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n == goal:
                return True
            if n in seen or n == removed:
                continue
            seen.add(n)
            todo.extend(graph.get(n, ()))
        return False

    source, sink = mobilenet.layers[0].name, mobilenet.layers[-1].name
    for path in taps.resolve(mobilenet, "blocks")[:-1]:
        assert not reaches(source, sink, path), path
    for inside in ("block_2_expand", "block_2_depthwise_relu", "block_2_project_BN"):
        assert reaches(source, sink, inside), inside


def test_resnet50_defaults_to_its_block_outputs():
    net = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    stages = {2: 3, 3: 4, 4: 6, 5: 3}
    assert taps.resolve(net, "default") == (["conv1_relu", "pool1_pool"]
                                            + [f"conv{s}_block{b}_out" for s, n in stages.items() for b in range(1, n + 1)]
                                            + ["avg_pool", "predictions"])


def test_small_and_nested_models():
    small = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, name="conv"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
    assert taps.resolve(small, "default") == ["conv", "bn", "relu", "out"]  # small: every layer
    assert taps.resolve(small, "blocks") == ["relu", "out"]  # a layer with what finishes it is one block
    net = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=2)
    outer = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255, name="scale"), net])
    paths = taps.resolve(outer, "default")
    assert paths[0] == "scale" and paths[1:] == [f"{net.name}/{p}" for p in taps.resolve(net, "default")]
    got = taps.tap_model(outer, paths[:3])(np.ones((1, 32, 32, 3), "float32"))
    assert [tuple(v.shape) for v in got.values()] == [(1, 32, 32, 3), (1, 16, 16, 16), (1, 16, 16, 8)]

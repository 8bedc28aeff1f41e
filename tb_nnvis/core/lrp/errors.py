"""The one error the LRP engine raises for models it cannot explain."""


class LRPError(ValueError):
    """A layer has no LRP rule, or the model's graph cannot be walked.

    The message names the layer and shows how to give it a rule, e.g.
    ``attribute(model, x, layer_map={MyLayer: Pass()})`` or ``name_map={"my_layer": Pass()}``.
    """


def no_rule_message(layer, why="has no LRP rule"):
    """The text of the error for a layer without a rule: names it and shows both ways to give one."""
    cls = type(layer).__name__
    kind = "Layer"
    if not hasattr(layer, "trainable_weights"):  # a Keras-ops node (x + 1, ops.exp(x)): say where its class lives
        kind = f"Keras-ops node ({type(layer).__module__}.{cls})"
    return (
        f"{kind} {layer.name!r} ({cls}) {why}. Give it one, by type or by name, e.g.\n"
        f"    attribute(model, x, composite='epsilon_plus', layer_map={{{cls}: Pass()}})\n"
        f"    attribute(model, x, composite='epsilon_plus', name_map={{{layer.name!r}: Epsilon()}})\n"
        f"or build your own: Composite(layer_map={{{cls}: Pass()}}, ...). Pass() suits element-wise layers "
        f"whose output has the input's shape; Epsilon()/Norm() suit layers that mix their inputs."
    )

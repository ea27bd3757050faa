"""The one place that reads Keras' graph internals, so that a Keras upgrade is mended here only.

Keras 3 offers no public way to walk a functional model's graph: which layer produced a tensor,
which layers feed a layer, each layer's output in *this* model. (`layer.output` is not enough: a
layer shared between models, as `clone_model` with a function that returns the layer itself
leaves it, has one output per model, and `.output` names the first.) These functions read the
private `model._nodes_by_depth` and `tensor._keras_history` (Keras 3.x) and give plain names and
tensors back.
"""

from __future__ import annotations

from typing import Any

import keras


def nodes(model: keras.Model) -> list[Any]:
    """Every node (one call of a layer) of `model`'s graph, the outputs' side first."""
    return [node for depth in model._nodes_by_depth.values() for node in depth]


def producer(tensor: Any) -> str:
    """The name of the layer whose output the symbolic `tensor` is (an input's: its InputLayer)."""
    return tensor._keras_history.operation.name


def layer_outputs(model: keras.Model) -> dict[str, Any]:
    """Each layer's output tensor in `model`'s graph, by layer name (the InputLayer's too).

    A layer called more than once in the graph gives the output of the call seen last.
    """
    return {node.operation.name: node.output_tensors[0] for node in nodes(model)}


def node_inputs(model: keras.Model) -> list[tuple[str, tuple[str, ...]]]:
    """(layer name, the names of the layers whose outputs it takes), one pair per node.

    Example: for `y = Add(name="add")([a, b])`, the pair `("add", ("a", "b"))`; an InputLayer
    takes nothing: `("data", ())`.
    """
    return [
        (node.operation.name, tuple(producer(t) for t in node.input_tensors))
        for node in nodes(model)
    ]


__all__ = ["layer_outputs", "node_inputs", "nodes", "producer"]

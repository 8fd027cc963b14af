"""A sequence model cut in two where its product sequence meets the other inputs: the
encoder (sequence -> state) and the head (the other inputs and the state -> score).

Explaining a row walks from the baseline to the row through (inputs + 1) x 2 x pairs
configurations, and in each the product sequence is either the row's or the baseline's: two
encoder states per row. Running the whole graph for every configuration runs the encoder
(a Transformer) hundreds of times per row on the same two sequences; cut in two, the encoder
runs twice per row and each configuration runs the small head. Same operators, same weights:
the scores are those of the whole graph (checked in the tests against it).

The cut is found from the graph alone, so it serves every exported sequence model (trained
from scratch or on the pre-trained encoder, registered before this existed or not): the one
tensor that depends on the sequence input only and is read by a node that also depends on
other inputs. A graph with no such single tensor (or with control flow) is not cut, and is
explained whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from scoring.onnx_session import Session, open_session

STATE = "sequence_state"


@dataclass(frozen=True)
class SequenceSplit:
    sequence: str  # the sequence input's name
    encoder: Session  # sequence -> state
    head: Session  # the other inputs + state -> score

    def state(self, sequences: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.run({self.sequence: sequences}, output=STATE))

    def score(self, feed: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        return np.asarray(self.head.run({**feed, STATE: state}), dtype=np.float64)


def _dependencies(graph: onnx.GraphProto) -> dict[str, frozenset[str]]:
    """Per tensor, the graph inputs it is computed from."""
    deps: dict[str, frozenset[str]] = {i.name: frozenset([i.name]) for i in graph.input}
    for node in graph.node:
        found = frozenset().union(*(deps.get(name, frozenset()) for name in node.input if name))
        for out in node.output:
            deps[out] = found
    return deps


def find_state(model: onnx.ModelProto, sequence: str) -> str | None:
    """The one tensor where the sequence's branch meets the rest, or None."""
    graph = model.graph
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for node in graph.node
        for a in node.attribute
    ):
        return None
    deps = _dependencies(graph)
    alone = frozenset([sequence])
    frontier = {
        name
        for node in graph.node
        if sequence in (reach := frozenset().union(*(deps.get(i, frozenset()) for i in node.input)))
        and reach != alone
        for name in node.input
        if deps.get(name) == alone and name != sequence
    }
    return frontier.pop() if len(frontier) == 1 else None


def _subgraph(
    model: onnx.ModelProto, outputs: list[str], stop: set[str], inputs: list, name: str
) -> onnx.ModelProto:
    """The nodes `outputs` need, walking back no further than `stop`, as their own model."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    needed, todo, seen = set(), list(outputs), set()
    while todo:
        tensor = todo.pop()
        if tensor in seen or tensor in stop or tensor not in producer:
            seen.add(tensor)
            continue
        seen.add(tensor)
        node = producer[tensor]
        needed.add(id(node))
        todo.extend(i for i in node.input if i)
    nodes = [node for node in graph.node if id(node) in needed]
    used = {i for node in nodes for i in node.input} | set(outputs)
    initializers = [t for t in graph.initializer if t.name in used]
    out_infos = [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs]
    sub = helper.make_graph(nodes, name, inputs, out_infos, initializer=initializers)
    proto = helper.make_model(sub, opset_imports=list(model.opset_import))
    proto.ir_version = model.ir_version
    return proto


def split_model(model: onnx.ModelProto, sequence: str, device: str = "cpu") -> SequenceSplit | None:
    """The encoder and head sessions of `model`, or None where it cannot be cut."""
    state = find_state(model, sequence)
    if state is None:
        return None
    graph = model.graph
    renamed = onnx.ModelProto()
    renamed.CopyFrom(model)
    # the state gets a fixed name, so the head's extra input is the same in every model
    for node in renamed.graph.node:
        node.output[:] = [STATE if o == state else o for o in node.output]
        node.input[:] = [STATE if i == state else i for i in node.input]
    seq_info = next(i for i in graph.input if i.name == sequence)
    encoder = _subgraph(renamed, [STATE], set(), [seq_info], "sequence_encoder")
    state_info = helper.make_tensor_value_info(STATE, onnx.TensorProto.FLOAT, None)
    others = [i for i in graph.input if i.name != sequence]
    head = _subgraph(renamed, ["score"], {STATE}, [*others, state_info], "sequence_head")
    encoder_session = open_session(encoder.SerializeToString(), device)
    head_session = open_session(head.SerializeToString(), device)
    return SequenceSplit(sequence, encoder_session, head_session)

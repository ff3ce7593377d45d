"""to_dot and cost_report: the graph drawn node for node, flops counted by
independent formulas and by a listener on a plain run."""

import re

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca.tensor import _state, listening

NODE = re.compile(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"(, style=dashed)?\];$')
EDGE = re.compile(r'^  (n\d+) -> (n\d+)(?: \[label="(\d+)"\])?;$')


def parse_dot(text):
    """Nodes {id: (label, dashed)} and edges [(from, to, label)]; fails on any other line."""
    lines = text.splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.strip().startswith(("rankdir", "node [")):
            continue
        if m := NODE.match(line):
            nodes[m[1]] = (m[2], bool(m[3]))
        elif m := EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        else:
            raise AssertionError(f"not a DOT node or edge line: {line!r}")
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    return nodes, edges


# ---------------------------------------------------------------- to_dot
def test_to_dot_draws_every_tensor_once_with_op_shape_and_dtype():
    x = tg.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    c = tg.Tensor(np.full((2, 3), 2.0, np.float32))
    y = tg.sum(x * c + x, axis=1)  # x is used twice, but drawn once
    nodes, edges = parse_dot(tg.to_dot(y))
    labels = sorted(label for label, _ in nodes.values())
    assert labels == sorted(
        [
            "input\\n(2, 3) float32",
            "constant\\n(2, 3) float32",
            "multiply\\n(2, 3) float32",
            "add\\n(2, 3) float32",
            "sum axis=1\\n(2,) float32",
        ]
    )
    assert len(edges) == 5  # x→mul, c→mul, mul→add, x→add, add→sum
    dashed = [label for label, is_dashed in nodes.values() if is_dashed]
    assert dashed == ["constant\\n(2, 3) float32"]
    by_label = {label.split("\\n")[0]: name for name, (label, _) in nodes.items()}
    assert (by_label["input"], by_label["add"], "1") in edges  # argument positions
    assert (by_label["multiply"], by_label["add"], "0") in edges
    assert (by_label["add"], by_label["sum axis=1"], None) in edges  # single input: no label


def test_to_dot_shows_masks_and_names_of_user_primitives():
    quoted = tg.primitive(lambda x: x, name='say "hi"')
    quoted.defvjp(lambda g, ans, x: g)
    x = tg.Tensor(np.zeros((2, 2)), requires_grad=True)
    y = tg.softmax(quoted(x), axis=0, where=np.eye(2, dtype=bool))
    nodes, _ = parse_dot(tg.to_dot(y))
    labels = {label.split("\\n")[0] for label, _ in nodes.values()}
    assert labels == {"input", 'say \\"hi\\"', "softmax axis=0 where=mask(2, 2)"}


def test_to_dot_of_a_deep_graph():
    x = tg.Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = -y
    nodes, edges = parse_dot(tg.to_dot(y))
    assert len(nodes) == 20_001 and len(edges) == 20_000


def test_to_dot_needs_a_tensor():
    with pytest.raises(TypeError, match="to_dot needs a Tensor"):
        tg.to_dot(np.ones(3))


# ---------------------------------------------------------------- cost_report
def measured_flops(fn, *args):
    """Total flops of every primitive executed while ``fn(*args)`` runs."""
    total = [0]
    with listening(on_op=lambda name, flops: total.__setitem__(0, total[0] + flops)):
        fn(*args)
    return total[0]


def mlp_loss(W1, W2, X):
    hidden = tg.tanh(X @ W1)
    return tg.mean((hidden @ W2) ** 2)


rng = np.random.default_rng(0)
W1, W2, X = rng.normal(size=(4, 8)), rng.normal(size=(8, 3)), rng.normal(size=(16, 4))


def test_cost_report_rows_follow_the_graph():
    report = tg.cost_report(mlp_loss, W1, W2, X)
    ops = [row.op for row in report.nodes]
    assert ops == ["input", "input", "matmul", "tanh", "input", "matmul", "power", "sum", "divide"]
    shapes = [row.shape for row in report.nodes]
    assert shapes[2] == (16, 8) and shapes[5] == (16, 3) and shapes[-1] == ()
    assert report.forward_flops == sum(row.forward_flops for row in report.nodes)
    assert report.backward_flops == sum(row.vjp_flops for row in report.nodes)
    assert all(row.forward_flops == row.vjp_flops == 0 for row in report.nodes if row.op == "input")


def test_forward_flops_follow_the_textbook_counts():
    report = tg.cost_report(mlp_loss, W1, W2, X)
    rows = {(row.op, row.shape): row for row in report.nodes}
    assert rows["matmul", (16, 8)].forward_flops == 2 * 16 * 4 * 8  # 2·n·k·m
    assert rows["matmul", (16, 3)].forward_flops == 2 * 16 * 8 * 3
    assert rows["tanh", (16, 8)].forward_flops == 16 * 8  # elementwise: output size
    assert rows["sum", ()].forward_flops == 16 * 3  # reduction: input size


def test_vjp_flops_of_a_matmul_are_two_matmuls():
    """Ā = C̄ Bᵀ and B̄ = Aᵀ C̄: each costs what the forward product costs."""
    A, B = rng.normal(size=(5, 6)), rng.normal(size=(6, 7))
    both = tg.cost_report(lambda A, B: tg.sum(A @ B), A, B)
    matmul = next(row for row in both.nodes if row.op == "matmul")
    assert matmul.forward_flops == 2 * 5 * 6 * 7
    assert matmul.vjp_flops == 2 * matmul.forward_flops
    one = tg.cost_report(lambda A, B: tg.sum(A @ B), A, B, argnums=[0])
    assert next(row for row in one.nodes if row.op == "matmul").vjp_flops == 2 * 5 * 6 * 7


def test_totals_agree_with_a_listener_on_a_plain_run():
    """Nothing is lost or counted twice: forward + backward = every op that
    value_and_grad executes."""
    report = tg.cost_report(mlp_loss, W1, W2, X)
    assert report.forward_flops == measured_flops(
        mlp_loss, *(tg.Tensor(a, requires_grad=True) for a in (W1, W2, X))
    )
    assert report.forward_flops + report.backward_flops == measured_flops(
        tg.value_and_grad(mlp_loss, argnums=(0, 1, 2)), W1, W2, X
    )


def test_the_backward_pass_costs_a_small_constant_times_the_forward():
    report = tg.cost_report(mlp_loss, W1, W2, X)
    assert 1.0 <= report.ratio <= 3.0
    assert report.ratio == report.backward_flops / report.forward_flops


def test_checkpoint_charges_the_recomputation_to_its_node():
    plain = tg.cost_report(mlp_loss, W1, W2, X)
    checkpointed = tg.cost_report(tg.checkpoint(mlp_loss), W1, W2, X)
    node = checkpointed.nodes[-1]
    assert node.op == "checkpoint(mlp_loss)"
    assert node.forward_flops == plain.forward_flops
    assert node.vjp_flops == plain.forward_flops + plain.backward_flops


def test_cost_report_table_and_cleanup():
    listeners, node_listeners = list(_state.op_listeners), list(_state.node_listeners)
    report = tg.cost_report(
        lambda x, labels: tg.sum(tg.exp(x[labels])), np.ones(4), np.array([0, 2])
    )
    assert _state.op_listeners == listeners and _state.node_listeners == node_listeners
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "op", "shape", "dtype", "forward", "flops", "VJP", "flops"]
    assert [line.split()[1] for line in lines[2:5]] == ["input", "getitem", "exp"]
    assert "total" in lines[-2] and f"{report.forward_flops:,}" in lines[-2]
    assert lines[-1] == f"backward / forward = {report.ratio:.2f}"


def test_cost_report_needs_an_output_that_depends_on_the_arguments():
    with pytest.raises(ValueError, match="does not depend on any differentiated argument"):
        tg.cost_report(lambda x: tg.Tensor(3.0), np.ones(2))


def test_to_dot_names_the_broadcast_node_as_the_public_op():
    b = tg.Tensor(np.ones(3), requires_grad=True)
    nodes, _ = parse_dot(tg.to_dot(tg.broadcast_to(b, (2, 3))))
    labels = {label.split("\\n")[0] for label, _ in nodes.values()}
    assert any(label.startswith("broadcast_to") for label in labels), labels
    assert not any(label.startswith("_") for label in labels), labels

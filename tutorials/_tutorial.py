"""Shared set-up for the tutorials: the small-size switch, the figure folder, a headless plot backend.

Every tutorial begins with::

    from _tutorial import setup, save
    SMALL, OUT = setup("01_reverse_mode_from_scratch")

- ``SMALL`` is true with ``--small`` on the command line or ``TINYGRAD_NCA_SMALL=1`` in the
  environment: the test suite uses it to run every tutorial quickly on tiny problems.
- ``OUT`` is the folder the figures go to: ``--output DIR``, else ``TINYGRAD_NCA_OUTPUT``, else
  ``tutorials/_output/<name>/`` (a folder git ignores).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Run from a fresh clone without installing: fall back to the repository's own package.
try:
    import tinygrad_nca  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent))

# Plots are written to files; a notebook front end that chose its own backend keeps it.
os.environ.setdefault("MPLBACKEND", "Agg")


_SMALL = False  # set by setup(); small runs save coarser figures (faster, for the tests)


def _option(flag):
    """The value after ``flag`` on the command line, or None."""
    if flag in sys.argv[:-1]:
        return sys.argv[sys.argv.index(flag) + 1]
    return None


def setup(name: str):
    """Return ``(small, out_dir)`` for tutorial ``name`` and print where the figures go."""
    global _SMALL
    small = "--small" in sys.argv or os.environ.get("TINYGRAD_NCA_SMALL", "") not in ("", "0")
    _SMALL = small
    out = _option("--output") or os.environ.get("TINYGRAD_NCA_OUTPUT")
    if out is None:
        root = HERE / "_output"
        root.mkdir(exist_ok=True)
        (root / ".gitignore").write_text("*\n")  # generated figures never get committed
        out = root / name
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{name}: {'small' if small else 'full'} size; figures go to {out}")
    return small, out


def save(fig, out_dir: Path, filename: str) -> Path:
    """Save ``fig`` as ``out_dir/filename``, close it, and say so."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / filename
    fig.savefig(path, dpi=50 if _SMALL else 110, bbox_inches="tight")
    plt.close(fig)
    print(f"[figure {filename}]")
    return path


def draw_graph(dot: str, out_dir: Path, filename: str) -> Path:
    """Draw the DOT text of :func:`tinygrad_nca.to_dot` with matplotlib (no Graphviz needed).

    Inputs at the bottom, the output at the top: each node sits one row above its highest input.
    """
    import re

    import matplotlib.pyplot as plt
    import numpy as np

    labels = {
        m[1]: m[2].replace("\\n", "\n")
        for m in re.finditer(r'^\s*(n\d+) \[label="(.*?)"', dot, re.M)
    }
    edges = [(m[1], m[2]) for m in re.finditer(r"^\s*(n\d+) -> (n\d+)", dot, re.M)]
    inputs = {node: [a for a, b in edges if b == node] for node in labels}
    users = {node: [b for a, b in edges if a == node] for node in labels}
    row = {}
    for node in labels:  # to_dot lists every node after its inputs
        row[node] = 1 + max((row[a] for a in inputs[node]), default=-1)
    for node in reversed(list(labels)):  # then lift each node to just below its first user
        if users[node]:
            row[node] = min(row[b] for b in users[node]) - 1
    column = {}
    for level in range(max(row.values()) + 1):
        members = [n for n in labels if row[n] == level]
        # under its inputs where possible: order a row by the mean column of the inputs
        members.sort(key=lambda n: sum(column[a] for a in inputs[n]) / max(len(inputs[n]), 1))
        for i, node in enumerate(members):
            column[node] = i - (len(members) - 1) / 2
    width = max(column.values()) - min(column.values()) + 2
    fig, ax = plt.subplots(figsize=(2.3 * width, 0.95 * (max(row.values()) + 1)))
    for a, b in set(edges):
        # an edge that leaves sideways starts at the side of its box, clear of the box above
        side = 0.25 * np.sign(column[b] - column[a]) if len(users[a]) > 1 else 0.0
        ax.annotate(
            "",
            xy=(column[b], row[b] - 0.22),
            xytext=(column[a] + side, row[a] + 0.22),
            arrowprops=dict(arrowstyle="->", color="grey"),
        )
    for node, label in labels.items():
        leaf = label.startswith(("input", "constant"))
        ax.text(
            column[node],
            row[node],
            label,
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            bbox=dict(boxstyle="round", fc="#dde6ff" if leaf else "white", ec="#334"),
        )
    ax.set_xlim(min(column.values()) - 0.9, max(column.values()) + 0.9)
    ax.set_ylim(-0.6, max(row.values()) + 0.6)
    ax.axis("off")
    return save(fig, out_dir, filename)

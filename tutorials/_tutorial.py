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


def _option(flag):
    """The value after ``flag`` on the command line, or None."""
    if flag in sys.argv[:-1]:
        return sys.argv[sys.argv.index(flag) + 1]
    return None


def setup(name: str):
    """Return ``(small, out_dir)`` for tutorial ``name`` and print where the figures go."""
    small = "--small" in sys.argv or os.environ.get("TINYGRAD_NCA_SMALL", "") not in ("", "0")
    out = _option("--output") or os.environ.get("TINYGRAD_NCA_OUTPUT")
    if out is None:
        root = HERE / "_output"
        root.mkdir(exist_ok=True)
        (root / ".gitignore").write_text("*\n")   # generated figures never get committed
        out = root / name
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{name}: {'small' if small else 'full'} size; figures go to {out}")
    return small, out


def save(fig, out_dir: Path, filename: str) -> Path:
    """Save ``fig`` as ``out_dir/filename``, close it, and say so."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / filename
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"[figure {filename}]")
    return path

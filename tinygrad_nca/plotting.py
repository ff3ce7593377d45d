"""Side-by-side scatter plots of 2-D embeddings, one colour per class.

matplotlib is imported on first use, and the figure is drawn on its own Agg
canvas (no pyplot): this works without a display and never changes the
backend of the caller's interactive session.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_embeddings"]


def _class_colours(n_classes):
    from matplotlib import colormaps

    # Qualitative palettes keep neighbouring classes distinguishable; past 20
    # classes no palette does, so sample a perceptually uniform map instead.
    if n_classes <= 10:
        return [colormaps["tab10"](k) for k in range(n_classes)]
    if n_classes <= 20:
        return [colormaps["tab20"](k) for k in range(n_classes)]
    return [colormaps["viridis"](t) for t in np.linspace(0.0, 1.0, n_classes)]


def plot_embeddings(
    embeddings: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    accuracies: Mapping[str, float] | None = None,
    n_neighbors: int | None = None,
    class_names: Sequence[str] | None = None,
    legend_title: str = "class",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Plot 2-D embeddings of the same points side by side, coloured by class.

    Parameters
    ----------
    embeddings : mapping of str to array of shape (n_samples, 2)
        One panel per entry, left to right, titled by its key (e.g.
        ``{"NCA": Z_nca, "PCA": Z_pca, "LDA": Z_lda}``).
    y : array of shape (n_samples,)
        Class labels; one colour per class.
    accuracies : mapping of str to float, optional
        k-NN accuracy of each panel's embedding, shown under its title.
    n_neighbors : int, optional
        The k of those accuracies, for the label ("3-NN accuracy").
    class_names : sequence of str, optional
        Legend names of the classes ``np.unique(y)``, in that order
        (default: the labels themselves).
    legend_title : str, default "class"
        What the classes are ("digit", "species").
    title : str, optional
        Figure title.
    path : str or path-like, optional
        If given, the figure is also written there as a PNG (atomically).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> Z = rng.standard_normal((40, 2)) + 3 * y[:, None]
    >>> fig = plot_embeddings({"NCA": Z, "PCA": Z[:, ::-1]}, y, accuracies={"NCA": 1.0, "PCA": 0.9})
    >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
    ['NCA', 'PCA']
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if not embeddings:
        raise ValueError("embeddings is empty: give at least one panel")
    panels = {}
    for name, Z in embeddings.items():
        Z = np.asarray(Z, dtype=float)
        if Z.shape != (len(y), 2):
            raise ValueError(
                f"embedding {name!r} has shape {Z.shape}; expected ({len(y)}, 2), "
                "one 2-D point per label"
            )
        if not np.isfinite(Z).all():
            raise ValueError(f"embedding {name!r} contains NaN or infinite values")
        panels[name] = Z
    classes = np.unique(y)
    names = [str(c) for c in classes] if class_names is None else [str(c) for c in class_names]
    if len(names) != len(classes):
        raise ValueError(f"class_names has {len(names)} entries for {len(classes)} classes")
    colours = _class_colours(len(classes))
    accuracies = accuracies or {}
    metric = "k-NN accuracy" if n_neighbors is None else f"{n_neighbors}-NN accuracy"

    # Small points for big sets so that clusters stay readable.
    size = 24 if len(y) <= 200 else 16 if len(y) <= 1000 else 6
    fig = Figure(figsize=(5.0 * len(panels) + 1.6, 5.4), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (name, Z) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=False
    ):
        for k, label in enumerate(classes):
            points = Z[y == label]
            ax.scatter(
                points[:, 0],
                points[:, 1],
                s=size,
                color=colours[k],
                alpha=0.8,
                linewidths=0,
                label=names[k],
            )
        heading = name if name not in accuracies else f"{name}\n{metric} {accuracies[name]:.3f}"
        ax.set_title(heading, fontsize=12)
        # Equal units on both axes: NCA's distances are what k-NN uses, so a
        # stretched picture would misrepresent them.
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.grid(True, linewidth=0.4, alpha=0.4)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    legend = fig.legend(
        handles,
        labels,
        loc="outside right center",
        title=legend_title,
        ncols=1 if len(classes) <= 20 else 2,
        markerscale=max(1.0, (60.0 / size) ** 0.5),
        frameon=False,
    )
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1.0)
    if title:
        fig.suptitle(title, fontsize=13)
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig

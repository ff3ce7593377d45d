"""The embedding plot: panels, colours, data shown, PNG output and input checks."""

import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import to_hex

from tinygrad_nca.plotting import plot_embeddings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 15)
    Z = rng.standard_normal((45, 2)) + 4 * (np.searchsorted(["a", "b", "c"], y))[:, None]
    return {"NCA": Z, "PCA": rng.standard_normal((45, 2))}, y


def test_one_panel_per_embedding_titled_with_accuracy(embeddings):
    panels, y = embeddings
    fig = plot_embeddings(
        panels, y, accuracies={"NCA": 0.9876, "PCA": 0.5}, n_neighbors=3, title="toy"
    )
    assert [ax.get_title() for ax in fig.axes] == [
        "NCA\n3-NN accuracy 0.988",
        "PCA\n3-NN accuracy 0.500",
    ]
    assert fig.texts[0].get_text() == "toy"


def test_each_class_one_colour_and_the_points_are_the_data(embeddings):
    panels, y = embeddings
    fig = plot_embeddings(panels, y, class_names=["ant", "bee", "cat"], legend_title="insect")
    for ax, Z in zip(fig.axes, panels.values(), strict=False):
        collections = ax.collections
        assert len(collections) == 3  # one scatter per class
        colours = [to_hex(c.get_facecolor()[0]) for c in collections]
        assert len(set(colours)) == 3
        for label, collection in zip(["a", "b", "c"], collections, strict=False):
            np.testing.assert_array_equal(collection.get_offsets(), Z[y == label])
        assert ax.get_aspect() == 1.0  # equal units on both axes
    # The same class has the same colour in every panel.
    first, second = ([to_hex(c.get_facecolor()[0]) for c in ax.collections] for ax in fig.axes)
    assert first == second
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["ant", "bee", "cat"]
    assert legend.get_title().get_text() == "insect"


def test_many_classes_get_distinct_colours():
    y = np.arange(30).repeat(2)
    Z = np.column_stack([y, y]).astype(float)
    fig = plot_embeddings({"NCA": Z}, y)
    colours = {to_hex(c.get_facecolor()[0]) for c in fig.axes[0].collections}
    assert len(colours) == 30


def test_writes_a_png_of_two_side_by_side_panels(tmp_path, embeddings):
    from matplotlib.image import imread

    panels, y = embeddings
    path = tmp_path / "embedding.png"
    fig = plot_embeddings(panels, y, path=path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    height, width, _ = imread(path).shape
    assert width > 1.5 * height  # two panels side by side
    assert len(fig.axes) == 2
    assert os.listdir(tmp_path) == ["embedding.png"]  # no temporary file left behind


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"NCA": np.zeros((45, 3))}, r"'NCA' has shape \(45, 3\); expected \(45, 2\)"),
        ({"NCA": np.zeros((44, 2))}, r"'NCA' has shape \(44, 2\)"),
        ({"NCA": np.full((45, 2), np.nan)}, "'NCA' contains NaN"),
        ({}, "empty"),
    ],
)
def test_bad_embeddings_are_named(embeddings, bad, message):
    _, y = embeddings
    with pytest.raises(ValueError, match=message):
        plot_embeddings(bad, y)


def test_class_names_must_match_the_classes(embeddings):
    panels, y = embeddings
    with pytest.raises(ValueError, match="class_names has 2 entries for 3 classes"):
        plot_embeddings(panels, y, class_names=["a", "b"])


def test_matplotlib_is_imported_only_when_plotting_and_pyplot_never():
    code = (
        "import sys, numpy as np; import tinygrad_nca.plotting as p; "
        "assert 'matplotlib' not in sys.modules; "
        "p.plot_embeddings({'NCA': np.eye(2)}, [0, 1]); "
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)

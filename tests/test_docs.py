"""The documentation site builds with warnings as errors, tutorials and API reference included.

The build runs the tutorials in their small-size mode (``TINYGRAD_NCA_SMALL=1``), sharing the runs
with tests/test_tutorials.py, so a broken docstring, a dead link or a failing tutorial fails this
test, as it would fail ``mkdocs build --strict``.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def load_hook():
    spec = importlib.util.spec_from_file_location("tutorials_hook", ROOT / "docs_hooks/tutorials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percent_format_cells_are_split_into_prose_and_code():
    hook = load_hook()
    text = "# %% [markdown]\n# # Title\n#\n# Some *prose*.\n\n# %%\nx = 1\nprint(x)\n# %%\n\n"
    cells = hook.split_cells(text)
    assert [c["kind"] for c in cells] == ["markdown", "code"]    # the empty last cell is dropped
    assert hook.prose(cells[0]["source"]) == "# Title\n\nSome *prose*."
    assert cells[1]["source"] == "x = 1\nprint(x)"
    assert cells[1]["first_line"] == 6        # so that tracebacks name the script's own line


def test_a_tutorial_is_run_cell_by_cell_and_rendered_in_order(tmp_path):
    hook = load_hook()
    script = tmp_path / "99_example.py"
    script.write_text(
        "# %% [markdown]\n# # A title\n#\n# Intro.\n"
        "# %%\nimport os, pathlib\nx = 6 * 7\nprint('x =', x)\n"
        "# %% [markdown]\n# Then a figure.\n"
        "# %%\npathlib.Path(os.environ['TINYGRAD_NCA_OUTPUT'], 'f.png').write_bytes(b'png')\n"
        "assert x == 42   # names defined in one cell live on in the next\n")
    folder = hook.execute(script, tmp_path / "cache", small=True)
    page = hook.to_markdown(script, folder)
    order = ["# A title", "Run it yourself", "Intro.", "x = 6 * 7", "```text\nx = 42", "Then a figure.",
             "![f.png](99_example/f.png)"]
    positions = [page.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), page
    assert hook.execute(script, tmp_path / "cache", small=True) == folder    # cached: not run again


def test_a_failing_tutorial_fails_the_build_with_its_traceback(tmp_path):
    hook = load_hook()
    script = tmp_path / "98_broken.py"
    script.write_text("# %%\nx = 1\n# %%\nassert x == 2, 'the claim is false'\n")
    with pytest.raises(RuntimeError, match="(?s)98_broken.py.*line 4.*the claim is false"):
        hook.execute(script, tmp_path / "cache", small=True)


@pytest.mark.parametrize("page", ["index.md", "getting-started.md"])
def test_code_on_the_static_pages_runs(page):
    """The Python blocks of a page run in order, in one namespace, as a reader would paste them."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"no Python blocks found on {page}"
    namespace = {}
    for block in blocks:
        exec(compile(block, f"docs/{page}", "exec"), namespace)


def test_every_tutorial_is_in_the_navigation_and_the_index():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    index = (ROOT / "docs/tutorials/index.md").read_text(encoding="utf-8")
    for script in TUTORIALS:
        assert f"tutorials/{script.stem}.md" in nav, f"{script.name} is missing from mkdocs.yml's nav"
        assert f"({script.stem}.md)" in index, f"{script.name} is missing from docs/tutorials/index.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail('MkDocs is not installed: the docs packages come with the test extra, '
                    'pip install -e ".[test]"')
    tmp = tmp_path_factory.mktemp("docs")
    # the small-mode tutorial runs are shared with test_tutorials.py (whichever comes first runs them)
    cache = tmp_path_factory.getbasetemp() / "tutorial-runs"
    env = dict(os.environ, TINYGRAD_NCA_SMALL="1", TINYGRAD_NCA_DOCS_CACHE=str(cache),
               NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp / "site")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return tmp / "site"


def test_site_builds_strictly(site):
    assert (site / "index.html").exists()
    assert (site / "getting-started" / "index.html").exists()


def test_tutorial_pages_show_code_output_and_figures(site):
    for script in TUTORIALS:
        page = site / "tutorials" / script.stem / "index.html"
        assert page.exists(), f"no page for {script.name}"
        html = page.read_text(encoding="utf-8")
        assert "language-python" in html or "highlight" in html
        for image in re.findall(r'<img[^>]+src="([^"]+)"', html):
            if not image.startswith(("http:", "https:", "data:")):
                assert (page.parent / image).exists(), f"{script.name}: broken image {image}"
        source = script.read_text(encoding="utf-8")
        promised = re.findall(r'(?:save|draw_graph)\(\w+, OUT, "([^"]+)"\)', source)
        for name in promised:
            assert f'src="{name}"' in html, f"{script.name}: figure {name} is not on its page"


def test_api_reference_is_generated_from_docstrings(site):
    html = (site / "api" / "gradcheck" / "index.html").read_text(encoding="utf-8")
    # words from check_grads' docstring, not from the Markdown page that includes it
    assert "check_grads" in html and "central finite differences" in html
    html = (site / "api" / "transforms" / "index.html").read_text(encoding="utf-8")
    assert "value_and_grad" in html and "Hessian-vector product" in html

"""Every tutorial runs top to bottom, in its small-size mode, and writes the figures it promises.

The tutorials assert their own claims (a gradient equals its formula, an embedding separates the
classes, ...), so a tutorial whose claim stops being true fails here. Each runs in a subprocess
through the docs' tutorial runner (docs_hooks/tutorials.py), which executes the script's cells in
order exactly as ``python tutorials/NAME.py`` would and records what each cell printed; the runs
are shared with tests/test_docs.py through a session-wide cache, so the suite runs each tutorial
once. One test also runs a tutorial the way a reader does, as a plain script.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_hook():
    spec = importlib.util.spec_from_file_location(
        "tutorials_hook", ROOT / "docs_hooks/tutorials.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def promised_figures(script: Path) -> list:
    """The figures a tutorial says it saves: every ``save(fig, OUT, "name.png")`` (or
    ``draw_graph(dot, OUT, "name.png")``) in its source."""
    return re.findall(
        r'(?:save|draw_graph)\(\w+, OUT, "([^"]+)"\)', script.read_text(encoding="utf-8")
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every tutorial in small mode, two at a time: {script: result folder or the error}."""
    hook = load_hook()
    cache = tmp_path_factory.getbasetemp() / "tutorial-runs"  # shared with test_docs.py

    def run(script):
        try:
            return hook.execute(script, cache, small=True)
        except RuntimeError as err:
            return err

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(TUTORIALS, pool.map(run, TUTORIALS), strict=False))


def test_the_tutorials_are_numbered_in_order_and_listed_everywhere():
    numbers = [int(script.name[:2]) for script in TUTORIALS]
    assert len(numbers) >= 10 and numbers == list(range(1, len(numbers) + 1)), (
        f"tutorials found: {[s.name for s in TUTORIALS]}"
    )
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    readme = (ROOT / "tutorials" / "README.md").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text(encoding="utf-8")
    for script in TUTORIALS:
        assert f"tutorials/{script.stem}.md" in nav, f"{script.name} is not in mkdocs.yml's nav"
        assert script.name in readme, f"{script.name} is not in tutorials/README.md"
        assert f"{script.stem}.md" in index, f"{script.name} is not in docs/tutorials/index.md"


@pytest.mark.parametrize("script", TUTORIALS, ids=[s.stem for s in TUTORIALS])
def test_tutorial_runs_in_small_mode(script, runs):
    result = runs[script]
    if isinstance(result, Exception):
        pytest.fail(str(result))
    cells = json.loads((result / "cells.json").read_text(encoding="utf-8"))
    assert "small size" in cells[0]["printed"], "a tutorial says its size and where figures go"
    for name in promised_figures(script):
        figure = result / "figures" / name
        assert figure.exists(), f"{script.name} promised {name} but did not write it"
        assert figure.read_bytes().startswith(PNG_SIGNATURE), f"{name} is not a PNG image"


def test_a_tutorial_runs_as_a_plain_script(tmp_path):
    script = ROOT / "tutorials" / "01_reverse_mode_from_scratch.py"
    out = tmp_path / "figures"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYGRAD_NCA_")}
    # cwd is a scratch folder: a tutorial must not depend on being run from the repository root
    done = subprocess.run(
        [sys.executable, str(script), "--small", "--output", str(out)],
        cwd=tmp_path,
        env=dict(env, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"small size; figures go to {out}" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(promised_figures(script))

"""MkDocs hook: turn the percent-format tutorials into pages, with what they print and plot.

    tutorials/NN_name.py  --run cell by cell-->  printed text + figures  -->  page tutorials/NN_name.md

A tutorial is a plain Python script split into cells by ``# %%`` lines:

- a ``# %% [markdown]`` cell is prose: its comment lines, with the leading ``# `` removed, are Markdown;
- a ``# %%`` cell is code: it becomes a Python block, followed by what the cell printed and the
  figures it saved (files that appeared in its output folder while it ran).

The script runs in a subprocess (``python docs_hooks/tutorials.py run SCRIPT FOLDER``), which executes
its code cells in order in one namespace, exactly as ``python SCRIPT`` would, and records each cell's
output; no Jupyter kernel is involved. A tutorial that raises fails the build with its traceback.

Each page offers its script, the same cells as a Jupyter notebook (``to_notebook``, written from the
cells read here, without outputs) and the helper module ``_tutorial.py`` for download.

Results are cached (in ``tutorials/_output/_docs_cache``, or ``$TINYGRAD_NCA_DOCS_CACHE``) under a hash
of the tutorial, its helper module, the package sources and the size mode, so an unchanged tutorial is
not run again. ``TINYGRAD_NCA_SMALL=1`` renders the tutorials in their small-size mode (the docs test
does this to stay fast).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
HELPER = "_tutorial.py"  # the set-up module the tutorials import
CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")


# ------------------------------------------------------------------ reading the script
def split_cells(text: str) -> list[dict]:
    """Split a percent-format script into cells: ``{"kind", "source", "first_line"}``.

    ``first_line`` is the 0-based line where the cell's body starts, so that a traceback from a code
    cell points at the right line of the script.
    """
    cells, kind, body, first = [], "code", [], 0
    for number, line in enumerate(text.splitlines()):
        marker = CELL_MARKER.match(line)
        if marker:
            cells.append({"kind": kind, "source": "\n".join(body), "first_line": first})
            kind = "markdown" if "[markdown]" in marker["rest"] else "code"
            body, first = [], number + 1
        else:
            body.append(line)
    cells.append({"kind": kind, "source": "\n".join(body), "first_line": first})
    return [cell for cell in cells if cell["source"].strip()]


def prose(source: str) -> str:
    """The Markdown inside a prose cell: each line's leading ``#`` and one space removed."""
    return "\n".join(re.sub(r"^# ?", "", line) for line in source.strip().splitlines())


# ------------------------------------------------------------------ running the script
def run_cells(script: Path, folder: Path) -> None:
    """Execute the code cells of ``script`` in order; write ``folder/cells.json`` and the figures."""
    figures = folder / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    os.environ["TINYGRAD_NCA_OUTPUT"] = str(figures)
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))
    namespace = {"__name__": "__main__", "__file__": str(script)}
    records = []
    for cell in split_cells(script.read_text(encoding="utf-8")):
        if cell["kind"] != "code":
            continue
        before = set(os.listdir(figures))
        printed = io.StringIO()
        # Blank lines in front keep the script's line numbers in tracebacks.
        code = compile("\n" * cell["first_line"] + cell["source"], str(script), "exec")
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
        records.append(
            {"printed": printed.getvalue(), "figures": sorted(set(os.listdir(figures)) - before)}
        )
    (folder / "cells.json").write_text(json.dumps(records, indent=1), encoding="utf-8")


def _fingerprint(script: Path, small: bool) -> str:
    digest = hashlib.sha256(f"small={small}".encode())
    sources = [script, TUTORIALS / HELPER, Path(__file__)]
    sources += sorted((ROOT / "tinygrad_nca").rglob("*.py"))
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def execute(script: Path, cache: Path, small: bool) -> Path:
    """Run ``script`` (unless a cached run of the same sources exists); return its result folder."""
    folder = cache / f"{script.stem}-{_fingerprint(script, small)}"
    if (folder / "cells.json").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # leftovers of a failed run
    env = dict(os.environ, TINYGRAD_NCA_SMALL="1" if small else "0", MPLBACKEND="Agg")
    # One BLAS thread: the tutorials' problems are small, their timings more repeatable, and two
    # tutorials run side by side.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    done = subprocess.run(
        [sys.executable, __file__, "run", str(script), str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tutorial {script.name} failed:\n{done.stderr[-4000:]}")
    return folder


# ------------------------------------------------------------------ writing the page
def to_markdown(script: Path, folder: Path) -> str:
    """The page of one tutorial: prose, code, printed output and figures, in script order."""
    records = iter(json.loads((folder / "cells.json").read_text(encoding="utf-8")))
    command = f"python tutorials/{script.name}"
    parts = []
    for cell in split_cells(script.read_text(encoding="utf-8")):
        if cell["kind"] == "markdown":
            text = prose(cell["source"])
            if not parts and text.startswith("# "):  # under the title: where the page comes from
                title, _, text = text.partition("\n")
                parts += [
                    title,
                    f'!!! note "Run it yourself"\n    This page is generated from '
                    f"`tutorials/{script.name}`; run it with `{command}` "
                    f"(add `--small` for a quick run).\n\n"
                    f"    Download [{script.name}]({script.name}){{: download }} "
                    f"or the notebook [{script.stem}.ipynb]({script.stem}.ipynb)"
                    f"{{: download }}, with [{HELPER}]({HELPER}){{: download }} "
                    f"beside it (the set-up every tutorial imports).",
                ]
            parts.append(text)
            continue
        record = next(records)
        parts.append(f"```python\n{cell['source'].strip()}\n```")
        # show the figure folder a reader gets by default, not this build's cache folder
        printed = record["printed"].replace(
            str(folder / "figures"), f"tutorials/_output/{script.stem}"
        )
        if printed.strip():
            parts.append(f"```text\n{printed.rstrip()}\n```")
        for name in record["figures"]:
            parts.append(f"![{name}]({script.stem}/{name})")
    return "\n\n".join(parts) + "\n"


def to_notebook(script: Path) -> str:
    """The tutorial as a Jupyter notebook (nbformat 4): one cell per cell of the script, no outputs.

    Written from the cells this hook already reads, so the notebook and the page cannot disagree.
    """
    cells = []
    for number, cell in enumerate(split_cells(script.read_text(encoding="utf-8"))):
        markdown = cell["kind"] == "markdown"
        text = prose(cell["source"]) if markdown else cell["source"].strip("\n")
        entry = {
            "cell_type": cell["kind"],
            "id": f"cell-{number}",
            "metadata": {},
            "source": text.splitlines(keepends=True),
        }
        if not markdown:
            entry.update(execution_count=None, outputs=[])
        cells.append(entry)
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def render_all(small: bool, cache: Path) -> dict[str, tuple[str, list[Path]]]:
    """Render every tutorial: ``{stem: (markdown, [figure paths])}``."""
    scripts = sorted(TUTORIALS.glob("[0-9]*.py"))
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".gitignore").write_text("*\n")  # generated output never gets committed
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        folders = list(pool.map(lambda s: execute(s, cache, small), scripts))
    pages = {}
    for script, folder in zip(scripts, folders, strict=False):
        figures = sorted((folder / "figures").iterdir())
        pages[script.stem] = (to_markdown(script, folder), figures)
    return pages


# ------------------------------------------------------------------ the MkDocs hook
def on_files(files, config):
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    small = os.environ.get("TINYGRAD_NCA_SMALL", "") not in ("", "0")
    cache = Path(os.environ.get("TINYGRAD_NCA_DOCS_CACHE", TUTORIALS / "_output" / "_docs_cache"))
    try:
        pages = render_all(small, cache)
    except RuntimeError as err:
        raise PluginError(str(err)) from None
    # the helper module every tutorial imports, offered for download with them
    files.append(
        File.generated(config, f"tutorials/{HELPER}", abs_src_path=str(TUTORIALS / HELPER))
    )
    for stem, (markdown, figures) in pages.items():
        script = TUTORIALS / f"{stem}.py"
        files.append(File.generated(config, f"tutorials/{stem}.md", content=markdown))
        files.append(File.generated(config, f"tutorials/{stem}.py", abs_src_path=str(script)))
        files.append(File.generated(config, f"tutorials/{stem}.ipynb", content=to_notebook(script)))
        for figure in figures:
            files.append(
                File.generated(config, f"tutorials/{stem}/{figure.name}", abs_src_path=str(figure))
            )
    return files


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "run":
        sys.exit("usage: python docs_hooks/tutorials.py run SCRIPT FOLDER")
    run_cells(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve())

"""Every tutorial runs top to bottom, in its small-size mode, and writes the figures it promises.

The tutorials assert their own claims (a gradient equals its formula, an embedding separates the
classes, ...), so a tutorial whose claim stops being true fails here. Each runs as a subprocess,
exactly as a reader would run it: ``python tutorials/NAME.py --small --output DIR``.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def promised_figures(script: Path) -> list:
    """The figures a tutorial says it saves: every ``save(fig, OUT, "name.png")`` in its source."""
    return re.findall(r'(?:save|draw_graph)\(\w+, OUT, "([^"]+)"\)', script.read_text(encoding="utf-8"))


def test_the_eight_tutorials_exist():
    numbers = [int(script.name[:2]) for script in TUTORIALS]
    assert numbers == list(range(1, 9)), f"tutorials found: {[s.name for s in TUTORIALS]}"


@pytest.mark.parametrize("script", TUTORIALS, ids=[s.stem for s in TUTORIALS])
def test_tutorial_runs_in_small_mode(script, tmp_path):
    out = tmp_path / "figures"
    env = dict(os.environ, TINYGRAD_NCA_SMALL="1", MPLBACKEND="Agg")
    env.pop("TINYGRAD_NCA_OUTPUT", None)
    # cwd is a scratch folder: a tutorial must not depend on being run from the repository root
    done = subprocess.run([sys.executable, str(script), "--small", "--output", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert str(out) in done.stdout, "a tutorial prints the folder its figures go to"
    for name in promised_figures(script):
        figure = out / name
        assert figure.exists(), f"{script.name} promised {name} but did not write it"
        assert figure.read_bytes().startswith(PNG_SIGNATURE), f"{name} is not a PNG image"

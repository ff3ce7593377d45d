"""README.md stays true: its Python snippets run, and CI runs its test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _newcomer_commands():
    first_block = _blocks("bash")[0]
    return [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]


def test_readme_opens_with_the_two_newcomer_commands():
    assert README.index("```bash") < README.index("## ")
    install_and_run, install_and_test = _newcomer_commands()
    assert install_and_run.endswith("tinygrad-nca fit")
    assert "pytest" in install_and_test


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert _newcomer_commands()[1] in ci_lines


def test_python_snippets_run():
    namespace = {}
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)
    # The property-based example defines a Hypothesis test: run it too.
    namespace["test_my_loss_gradient"]()

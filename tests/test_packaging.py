"""Packaging: one source for the version, the extras, the project's links, no machine paths."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_nca

ROOT = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- the version
def test_the_version_is_written_once_in_the_package():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "tinygrad_nca.__version__"
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev)?\d*", tinygrad_nca.__version__)


def test_the_installed_metadata_has_the_packages_version():
    # What pip recorded when it built the package (from __version__, through
    # [tool.setuptools.dynamic]) is what the package says at run time.
    assert importlib.metadata.version("tinygrad-nca") == tinygrad_nca.__version__


def test_the_changelog_knows_the_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert re.search(
        rf"^## \[{re.escape(tinygrad_nca.__version__)}\] - \d{{4}}-\d\d-\d\d$",
        changelog,
        flags=re.M,
    )


# ---------------------------------------------------------------------- extras
def test_hypothesis_comes_with_the_testing_extra_only():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(r.startswith("hypothesis") for r in extras["testing"])
    assert not any(r.startswith("hypothesis") for r in PYPROJECT["project"]["dependencies"])


def test_testing_without_hypothesis_says_how_to_get_it():
    # A None entry in sys.modules makes `import hypothesis` fail as if it were not installed.
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "try:\n"
        "    import tinygrad_nca.testing\n"
        "except ImportError as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImportError tinygrad_nca.testing needs Hypothesis")
    assert 'pip install "tinygrad-nca[testing]"' in done.stdout


def test_the_build_requires_a_setuptools_that_reads_spdx_licenses():
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]
    assert PYPROJECT["project"]["license"] == "BSD-3-Clause"
    # setuptools >= 77 refuses a License classifier beside a license expression
    assert not any(c.startswith("License ::") for c in PYPROJECT["project"]["classifiers"])


def test_classifiers_name_the_supported_pythons():
    classifiers = PYPROJECT["project"]["classifiers"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Operating System :: OS Independent" in classifiers


def test_project_urls_are_public_web_addresses():
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    for url in urls.values():
        assert url.startswith("https://"), url


# ---------------------------------------------------------------------- lowest versions
def test_ci_tests_exactly_the_lowest_versions_the_dependencies_allow():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pins = dict(re.findall(r'"([A-Za-z0-9_.-]+)==([0-9.]+)\.\*"', ci))
    floors = {}
    for requirement in PYPROJECT["project"]["dependencies"]:
        name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        floors[name] = floor
    assert {name: pins.get(name) for name in floors} == floors
    pandas_floor = next(
        r for r in PYPROJECT["project"]["optional-dependencies"]["test"] if r.startswith("pandas")
    )
    assert pandas_floor == f"pandas>={pins['pandas']}"
    # and it ends with README's test command (tests/test_readme.py checks the words)
    assert ci.rstrip().splitlines()[-1] == 'pip install -e ".[test]" && python -m pytest'


# ---------------------------------------------------------------------- no machine paths
_MACHINE_PATH = re.compile(r"/work/|/root/|/home/[a-z]|\.\./shared|[A-Z]:\\Users")
_SKIPPED_DIRS = {
    ".git",
    "build",
    "dist",
    "site",
    ".hypothesis",
    ".pytest_cache",
    "__pycache__",
    "tinygrad_nca_output",
    "results",
    ".venv",
    "venv",
}


def _repository_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if (
                path.suffix in {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".ini"}
                or path.name == "run"
            ):
                yield path


def test_nothing_names_a_path_on_the_authors_machine():
    found = []
    for path in _repository_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _MACHINE_PATH.search(line) and path != Path(__file__).resolve():
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)

"""Mutation check of the derivative tests: does scaling one VJP by 1.0001 make a test fail?

For every primitive reachable from the tinygrad_nca package (found by introspection: every
``Primitive`` held by a module attribute of any tinygrad_nca module), and for each of its VJPs
(``prim.vjps[i]`` for each position i, and ``prim.vjp_argnum`` when set), the VJP is wrapped
so that its result is multiplied by 1.0001, and a fast subset of the test suite is run in a
subprocess. A mutant is *killed* when a test that passes without the mutation fails with it;
a *survivor* means no test is sensitive to a 1e-4 relative error in that rule: the tests, or
the tolerances of check_grads, are too loose there.

Usage (from the repository root)::

    python tools/mutation_check.py                              # every primitive
    python tools/mutation_check.py --primitives exp,multiply    # by name (or module:attribute)
    python tools/mutation_check.py --tests tests/test_ops.py tests/test_nesting.py
    python tools/mutation_check.py --list                       # the discovered primitives

Tests that already fail without any mutation (the baseline run) are deselected from every
mutated run, so that a known failure is not mistaken for a kill. Hypothesis runs with its
"ci" example budget, without shrinking and without its example database.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTOR = 1.0001
DEFAULT_TESTS = [
    "tests/test_ops.py",
    "tests/test_nesting.py",
    "tests/test_transforms.py",
    "tests/test_blockwise.py",
]
DEFAULT_TEST_GLOBS = ["tests/test_*order*.py", "tests/test_*systematic*.py"]  # order-2 tables
SKIPPED_MODULES = {"tinygrad_nca.__main__"}  # importing it would run the program


# ============================================================================ discovery
def discover():
    """{qualified name: Primitive} for every Primitive held by an attribute of a tinygrad_nca
    module; the qualified name is ``module:attribute`` where it was first seen (modules in
    import order, so the defining module usually comes first). Each object appears once."""
    import tinygrad_nca
    from tinygrad_nca.tensor import Primitive

    modules = [tinygrad_nca]
    for info in pkgutil.walk_packages(tinygrad_nca.__path__, "tinygrad_nca."):
        if info.name in SKIPPED_MODULES:
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except Exception as err:  # an optional dependency missing: skip that module
            print(f"(not scanned: {info.name}: {type(err).__name__}: {err})", file=sys.stderr)
    found, seen = {}, set()
    for module in sorted(
        modules,
        key=lambda m: (
            m.__name__ != "tinygrad_nca.tensor",
            m.__name__ != "tinygrad_nca.ops",
            m.__name__,
        ),
    ):
        for attribute, value in sorted(vars(module).items()):
            if isinstance(value, Primitive) and id(value) not in seen:
                seen.add(id(value))
                found[f"{module.__name__}:{attribute}"] = value
    return found


def targets(primitives):
    """(qualified name, primitive name, position) for each VJP: position is an int for
    ``vjps[i]`` and "argnum" for ``vjp_argnum``."""
    out = []
    for qualified, prim in primitives.items():
        for i in sorted(prim.vjps):
            out.append((qualified, prim.name, i))
        if prim.vjp_argnum is not None:
            out.append((qualified, prim.name, "argnum"))
    return out


def select(primitives, names):
    """The primitives whose name, attribute or ``module:attribute`` is in ``names``."""
    if not names:
        return primitives
    wanted = set(names)
    chosen = {
        q: p
        for q, p in primitives.items()
        if p.name in wanted or q in wanted or q.split(":")[1] in wanted
    }
    missing = (
        wanted - {p.name for p in chosen.values()} - set(chosen) - {q.split(":")[1] for q in chosen}
    )
    if missing:
        raise SystemExit(
            f"no primitive named {', '.join(sorted(missing))}; "
            f"see --list for the {len(primitives)} discovered"
        )
    return chosen


# ============================================================================ the mutation
def _scaled(vjp, factor, recorded_only):
    def mutated(*args, **kwargs):
        result = vjp(*args, **kwargs)
        if recorded_only:
            from tinygrad_nca.tensor import is_grad_enabled

            if not is_grad_enabled():
                return result
        return result * factor

    mutated.__wrapped__ = vjp
    return mutated


@contextlib.contextmanager
def mutation(prim, position, factor=FACTOR, recorded_only=False):
    """Within the block, the VJP of ``prim`` at ``position`` (an int, or "argnum") returns its
    result times ``factor``; with ``recorded_only`` only while the reverse sweep is recorded
    (the first derivative is then untouched, derivatives of derivatives are not)."""
    if position == "argnum":
        original = prim.vjp_argnum
        if original is None:
            raise ValueError(f"{prim.name} has no vjp_argnum")
        prim.vjp_argnum = _scaled(original, factor, recorded_only)
        try:
            yield
        finally:
            prim.vjp_argnum = original
    else:
        original = prim.vjps[position]
        prim.vjps[position] = _scaled(original, factor, recorded_only)
        try:
            yield
        finally:
            prim.vjps[position] = original


# ============================================================================ the worker (a subprocess)
class _Recorder:
    """pytest plugin: deselect the baseline failures, record the tests that fail."""

    def __init__(self, deselect, record):
        self.deselect, self.record, self.failed = set(deselect), record, []

    def pytest_collection_modifyitems(self, config, items):
        kept = [item for item in items if item.nodeid not in self.deselect]
        dropped = [item for item in items if item.nodeid in self.deselect]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)
            Path(self.record).write_text(json.dumps(self.failed))


def _worker(args):
    from hypothesis import Phase, settings

    settings.register_profile(
        "mutation",
        max_examples=25,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        print_blob=False,
    )
    os.environ["HYPOTHESIS_PROFILE"] = "mutation"
    deselect = json.loads(Path(args.deselect_file).read_text()) if args.deselect_file else []
    recorder = _Recorder(deselect, args.record)
    Path(args.record).write_text("[]")
    pytest_args = ["-q", "-p", "no:cacheprovider", "--tb=no", "--no-header", "-o", "addopts="]
    if args.first_failure:
        pytest_args.append("-x")
    import pytest

    if args.target == "none":
        return pytest.main(pytest_args + args.tests, plugins=[recorder])
    qualified, position = args.target.rsplit("@", 1)
    position = position if position == "argnum" else int(position)
    prim = discover()[qualified]
    with mutation(prim, position):
        return pytest.main(pytest_args + args.tests, plugins=[recorder])


def _run_worker(target, tests, deselect_file, timeout, first_failure):
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as record:
        path = record.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        target,
        "--root",
        str(ROOT),
        "--record",
        path,
        "--tests",
        *tests,
    ]
    if deselect_file:
        command += ["--deselect-file", deselect_file]
    if first_failure:
        command.append("--first-failure")
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        code = completed.returncode
        output = completed.stdout + completed.stderr
    except subprocess.TimeoutExpired:
        code, output = None, ""
    seconds = time.perf_counter() - start
    try:
        failed = json.loads(Path(path).read_text() or "[]")
    finally:
        Path(path).unlink(missing_ok=True)
    return code, failed, seconds, output


# ============================================================================ the driver
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--primitives",
        help="comma-separated names (prim.name, attribute or "
        "module:attribute); default: every primitive",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        help="test files or node ids to run "
        f"(default: {' '.join(DEFAULT_TESTS)} and "
        "any tests/test_*order*.py, tests/test_*systematic*.py)",
    )
    parser.add_argument("--list", action="store_true", help="list the discovered primitives")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--json", help="also write the table to this JSON file")
    parser.add_argument(
        "--root",
        help="the checkout whose package and tests to use (default: "
        "the one this script is in); nothing is written there",
    )
    # the subprocess's own options
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    parser.add_argument("--deselect-file", help=argparse.SUPPRESS)
    parser.add_argument("--first-failure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global ROOT
    if args.root:
        ROOT = Path(args.root).resolve()
    sys.path.insert(0, str(ROOT))  # the package of that checkout

    if args.worker:
        args.target = args.worker
        return _worker(args)

    primitives = discover()
    if args.list:
        for qualified, prim in primitives.items():
            positions = sorted(prim.vjps) + (["argnum"] if prim.vjp_argnum else [])
            print(f"{prim.name:16s} {qualified:40s} VJPs: {positions}")
        return 0
    chosen = select(primitives, args.primitives.split(",") if args.primitives else None)
    tests = args.tests or [t for t in DEFAULT_TESTS if (ROOT / t).exists()] + sorted(
        str(p.relative_to(ROOT)) for g in DEFAULT_TEST_GLOBS for p in ROOT.glob(g)
    )
    if not targets(chosen):
        raise SystemExit("the chosen primitives have no VJP to mutate")

    print(f"baseline run (no mutation) of {' '.join(tests)} ...", flush=True)
    code, baseline, seconds, output = _run_worker("none", tests, None, args.timeout, False)
    if code is None or code not in (0, 1):
        print(output[-3000:])
        raise SystemExit(f"the baseline run did not complete (exit code {code})")
    print(
        f"baseline: {len(baseline)} test(s) fail without mutation and are deselected "
        f"({seconds:.0f} s)",
        flush=True,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(baseline, handle)
        deselect_file = handle.name

    rows = []
    try:
        for qualified, name, position in targets(chosen):
            target = f"{qualified}@{position}"
            code, failed, seconds, output = _run_worker(
                target, tests, deselect_file, args.timeout, True
            )
            if code is None:
                status = "timeout"
            elif failed:
                status = "killed"
            elif code in (0, 5):
                status = "SURVIVED"
            else:
                status = f"error (exit {code})"
            rows.append(
                dict(
                    primitive=name,
                    where=qualified,
                    argument=str(position),
                    status=status,
                    killed_by=failed[0] if failed else "",
                    seconds=round(seconds, 1),
                )
            )
            print(
                f"  {name:16s} arg {position!s:7s} {status:9s} {seconds:6.1f} s  "
                f"{failed[0] if failed else ''}",
                flush=True,
            )
    finally:
        Path(deselect_file).unlink(missing_ok=True)

    print()
    print(_table(rows))
    survivors = [r for r in rows if r["status"] != "killed"]
    print(
        f"\n{len(rows) - len(survivors)} of {len(rows)} mutants killed; "
        f"{len(survivors)} not killed" + (":" if survivors else ".")
    )
    for r in survivors:
        print(f"  {r['primitive']} argument {r['argument']} ({r['where']}): {r['status']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if survivors else 0


def _table(rows):
    header = ["primitive", "arg", "result", "seconds", "first failing test"]
    body = [
        [r["primitive"], r["argument"], r["status"], f"{r['seconds']:.1f}", r["killed_by"]]
        for r in rows
    ]
    widths = [max(len(str(line[c])) for line in [header] + body) for c in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip()
        for line in [header] + body
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

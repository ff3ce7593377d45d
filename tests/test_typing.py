"""The package's type annotations: what type checkers see of Tensor is what ops.py attaches,
and ordinary user code type-checks (mypy, with the project's settings).

ops.py attaches Tensor's operators and methods at import time, out of a type checker's
sight; tensor.py declares them for checkers under ``if TYPE_CHECKING:``. The first tests
keep the two lists equal. The last runs mypy over tests/typing/user_code.py (must be clean)
and tests/typing/user_mistakes.py (every line marked ``# error`` must be reported, and no
other), so that a declaration too loose to catch anything fails it as well.
"""

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_nca as tg
from tinygrad_nca import ops

ROOT = Path(__file__).resolve().parent.parent
TYPING = Path(__file__).resolve().parent / "typing"


def _is_type_checking(test):
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _names(statements):
    """Names that statements bind in a class body: functions, assignments, annotations."""
    names = {}
    for node in statements:
        if isinstance(node, ast.FunctionDef):
            names[node.name] = node  # the last of a name's overloads is the implementation
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _tensor_class_body():
    """(what Tensor's body defines at run time, what it declares for type checkers only)."""
    tree = ast.parse((ROOT / "tinygrad_nca" / "tensor.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    runtime, checkers = [], []
    for node in cls.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            checkers += node.body
            runtime += node.orelse
        elif (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.UnaryOp)
            and isinstance(node.test.op, ast.Not)
            and _is_type_checking(node.test.operand)
        ):
            runtime += node.body
            checkers += node.orelse
        else:
            runtime.append(node)
    slots = next(
        n
        for n in cls.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in n.targets)
    )
    slot_names = {k.value for k in slots.value.keys}
    return set(_names(runtime)) | slot_names, _names(checkers)


def test_every_attached_method_is_declared_for_type_checkers_and_back():
    runtime, declared = _tensor_class_body()
    attached = set(ops._TENSOR_METHODS)
    declared_methods = {
        name for name, node in declared.items() if isinstance(node, ast.FunctionDef)
    } - runtime
    assert attached - declared_methods == set(), "attached by ops.py, not declared in tensor.py"
    assert declared_methods - attached == set(), "declared in tensor.py, attached by no one"
    assert attached & runtime == set(), "attached by ops.py over a definition in the class"


def test_nothing_else_is_set_on_tensor_behind_the_checkers_back():
    # Tensor as it is at run time: its class body plus what ops.py attached, nothing more.
    runtime, _ = _tensor_class_body()
    made_by_python = {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotate__",
        "__annotate_func__",
        "__annotations_cache__",
    }
    present = set(vars(tg.Tensor)) - made_by_python
    assert present - runtime == set(ops._TENSOR_METHODS)


def _parameters(node):
    args = node.args
    return (
        [a.arg for a in args.posonlyargs + args.args]
        + ([f"*{args.vararg.arg}"] if args.vararg else [])
        + [a.arg for a in args.kwonlyargs]
    )


def test_declared_methods_take_the_parameters_of_the_attached_functions():
    _, declared = _tensor_class_body()
    for name, attached in ops._TENSOR_METHODS.items():
        stub = declared[name]
        if isinstance(attached, property):
            assert any(
                isinstance(d, ast.Name) and d.id == "property" for d in stub.decorator_list
            ), name
            continue
        signature = inspect.signature(attached)
        real = [
            ("*" if p.kind is p.VAR_POSITIONAL else "") + p.name
            for p in signature.parameters.values()
        ]
        # the attached function's first parameter is the tensor: self in the declaration.
        # Operators are called positionally (x + y): only their number of operands counts.
        if name.startswith("__"):
            assert len(_parameters(stub)) == len(real), name
            continue
        assert _parameters(stub)[1:] == real[1:], name
        defaults = [
            p.name
            for p in signature.parameters.values()
            if p.default is not inspect.Parameter.empty
        ]
        stub_defaults = _parameters(stub)[
            len(_parameters(stub)) - len(stub.args.defaults) : len(
                stub.args.posonlyargs + stub.args.args
            )
        ]
        assert stub_defaults == defaults, name


def _reported(output):
    """{file name: set of line numbers} of the errors in mypy's output."""
    errors = {}
    for match in re.finditer(r"^(?:.*/)?(\w+\.py):(\d+): error:", output, re.MULTILINE):
        errors.setdefault(match.group(1), set()).add(int(match.group(2)))
    return errors


def test_user_code_type_checks_and_mistakes_are_reported():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    pytest.importorskip("sklearn")
    pytest.importorskip("hypothesis")
    files = [TYPING / "user_code.py", TYPING / "user_mistakes.py"]
    # One run over both files; run from the repository so that mypy reads this checkout's
    # package and pyproject.toml; its cache beside the package (.mypy_cache, git-ignored),
    # warm after the first run.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            *(str(f.relative_to(ROOT)) for f in files),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "MYPY_FORCE_COLOR": "0"},
    )
    output = result.stdout + result.stderr
    reported = _reported(output)
    assert reported.get("user_code.py", set()) == set(), output
    lines = (TYPING / "user_mistakes.py").read_text(encoding="utf-8").splitlines()
    marked = {n for n, line in enumerate(lines, start=1) if "# error:" in line}
    assert marked, "user_mistakes.py marks no line"
    assert reported.get("user_mistakes.py", set()) == marked, output

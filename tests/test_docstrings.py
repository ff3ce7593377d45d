"""Every public name of the documented modules has a NumPy-style docstring with an example.

The examples themselves run as doctests (``pytest --doctest-modules``); this file checks that
they exist and that the docstrings are laid out as the API site's NumPy parser expects. It
reads the source with ``ast``, so it checks what is written, without importing anything.

Public means: listed in the module's ``__all__`` (for ``cli``, which has none, every top-level
name without a leading underscore), and every method of a public class whose name has no
leading underscore.
"""

import ast
import inspect
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_nca"
MODULES = [
    "graph.py",
    "testing.py",
    "optim.py",
    "datasets.py",
    "exercises.py",
    "cli.py",
    "errors.py",
    "models/autoencoder.py",
    "models/reduction.py",
]

# The section names numpydoc knows; a line of dashes under any other line is a typo.
SECTIONS = {
    "Parameters",
    "Other Parameters",
    "Returns",
    "Yields",
    "Receives",
    "Raises",
    "Warns",
    "Warnings",
    "See Also",
    "Notes",
    "References",
    "Examples",
    "Attributes",
    "Methods",
}


def is_docstring(node):
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def public_names(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    names = set()  # no __all__: what has no underscore
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {name for name in names if not name.startswith("_")}


def documented_items(path):
    """(qualified name, docstring or None, needs an example) for every public item of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    public = public_names(tree)
    items = []
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in public:
            items.append((node.name, ast.get_docstring(node), True))
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, ast.FunctionDef) and (
                        not member.name.startswith("_") or member.name == "__call__"
                    ):
                        items.append(
                            (
                                f"{node.name}.{member.name}",
                                ast.get_docstring(member),
                                not member.name.startswith("_"),
                            )
                        )
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in public for t in node.targets
        ):
            # a constant is documented by the string right below it (as the API site reads it)
            following = tree.body[i + 1] if i + 1 < len(tree.body) else None
            name = next(t.id for t in node.targets if isinstance(t, ast.Name))
            items.append((name, following.value.value if is_docstring(following) else None, False))
    return items


def has_example(docstring):
    """An ``Examples`` section (the API site shows only its ``>>>`` lines as code) with code."""
    _, found, after = docstring.partition("\nExamples\n--------\n")
    return bool(found) and re.search(r"^\s*>>> ", after, re.M) is not None


def section_problems(docstring):
    lines = [line.strip() for line in docstring.splitlines()]
    problems = []
    for above, line in zip(lines, lines[1:], strict=False):
        # a title is words over a rule of dashes (the tables in doctest output are not titles)
        if line and set(line) == {"-"} and re.fullmatch(r"[A-Z][A-Za-z ]*", above):
            if above not in SECTIONS:
                problems.append(f"unknown section {above!r}")
            elif len(line) != len(above):
                problems.append(f"the underline of {above!r} is not as long as the title")
    return problems


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_has_a_docstring_with_an_example(module):
    missing = []
    for name, docstring, needs_example in documented_items(PACKAGE / module):
        if not docstring or not docstring.strip():
            missing.append(f"{name}: no docstring")
        elif needs_example and not has_example(docstring):
            missing.append(f"{name}: no Examples section with a >>> line")
        if docstring:
            missing += [f"{name}: {p}" for p in section_problems(docstring)]
    assert not missing, f"{module}:\n  " + "\n  ".join(missing)


def test_the_checks_can_fail(tmp_path):
    """A module with an undocumented function, one without an example, a constant without a
    docstring and a misspelt section is caught on each count."""
    source = tmp_path / "bad.py"
    source.write_text(
        '__all__ = ["f", "g", "h", "C"]\n'
        "C = 3\n"
        "def f():\n    pass\n"
        'def g():\n    """Does g."""\n'
        'def h():\n    """Does h.\n\n    Example\n    -------\n    >>> h()\n    """\n'
    )
    items = {name: (doc, needs) for name, doc, needs in documented_items(source)}
    assert items["C"][0] is None and items["f"][0] is None
    assert not has_example(items["g"][0])
    assert not has_example(items["h"][0])  # a >>> line, but not under "Examples"
    assert section_problems(items["h"][0]) == ["unknown section 'Example'"]


# The Tensor attributes defined in tensor.py (properties, slots and methods: not visible to
# the ast walk above, so read at run time). Those attached by ops.py (T, exp, reshape, ...)
# are listed there.
TENSOR_MEMBERS = {
    "Tensor": [
        "value",
        "requires_grad",
        "grad",
        "shape",
        "dtype",
        "ndim",
        "size",
        "is_leaf",
        "item",
        "numpy",
        "detach",
        "backward",
    ],
    "Primitive": ["defvjp", "defvjp_argnum", "__call__", "backward"],
}


@pytest.mark.parametrize("cls, member", [(c, m) for c, ms in TENSOR_MEMBERS.items() for m in ms])
def test_tensor_members_have_a_docstring_with_an_example(cls, member):
    from tinygrad_nca import tensor

    # getdoc, not __doc__: a slot's docstring lives in the class's __slots__ dict
    docstring = inspect.getdoc(vars(getattr(tensor, cls))[member])
    assert docstring and has_example(docstring), f"{cls}.{member}"

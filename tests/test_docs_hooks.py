"""The documentation hooks on their own, without building the site: the maths typesetter
(docs_hooks/maths.py) and the run-time API extension (docs_hooks/runtime_api.py)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(
        f"docs_hook_{name}", ROOT / "docs_hooks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ maths
@pytest.fixture(scope="module")
def maths():
    pytest.importorskip("math_core", reason="math-core comes with the docs and test extras")
    return load("maths")


def test_inline_and_displayed_maths_become_mathml(maths):
    page = (
        '<p>so <span class="arithmatex">\\(x_i &lt; y\\)</span> holds</p>\n'
        '<div class="arithmatex">\\[ \\bar A = \\frac{1}{N} \\sum_i x_i \\]</div>'
    )
    out = maths.typeset(page)
    assert "arithmatex" not in out and "\\" not in out
    assert out.count("<math") == 2 and '<math display="block">' in out
    assert "<mo>&lt;</mo>" in out  # the escaped < was read as TeX's <
    assert "<mfrac>" in out and "<munder>" in out  # \frac and \sum with a limit below
    assert out.startswith("<p>so <math>") and out.endswith("</math></div>")


def test_the_tutorials_tex_is_all_understood(maths):
    """Every equation of the tutorials converts (an unknown command would fail the build)."""
    import re

    for script in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py")):
        prose = "\n".join(re.sub(r"^# ?", "", line) for line in script.read_text().splitlines())
        for tex in re.findall(r"\$\$(.*?)\$\$", prose, re.S):
            page = f'<div class="arithmatex">\\[{tex}\\]</div>'
            assert "<math" in maths.typeset(page, script.name)


def test_tex_that_cannot_be_typeset_fails_with_the_page_named(maths):
    with pytest.raises(
        ValueError, match=r"api/x\.md: cannot typeset the maths '\\\\nosuchmacro x'"
    ):
        maths.typeset('<span class="arithmatex">\\(\\nosuchmacro x\\)</span>', "api/x.md")


def test_a_page_without_maths_is_left_alone(maths):
    page = "<p>costs $5 and \\(not in a span\\)</p><pre><code>r'\\[x\\]'</code></pre>"
    assert maths.typeset(page) == page


# ------------------------------------------------------------------ run-time API
@pytest.fixture(scope="module")
def runtime():
    pytest.importorskip("griffe", reason="griffe comes with mkdocstrings[python]")
    return load("runtime_api")


def test_python_syntax_of_special_methods(runtime):
    assert runtime.python_syntax("__add__") == "x + y"
    assert runtime.python_syntax("__rmatmul__") == "y @ x"
    assert runtime.python_syntax("__iadd__") == "x += y"
    assert runtime.python_syntax("__le__") == "x <= y"
    assert runtime.python_syntax("__getitem__") == "x[i]"
    assert runtime.python_syntax("__frobnicate__") == "x.__frobnicate__(...)"


def _toy_class():
    """A class that gets a property, methods and operators after it is defined, as Tensor does."""

    class Box:
        """A box.

        Parameters
        ----------
        v : float
            The content.
        """

        def __init__(self, v):
            self.v = v

        def peek(self):
            """Look inside."""
            return self.v

    def plus(a, b):
        """The sum of two boxes' contents."""
        return Box(a.v + b.v)

    def twice(self, *, k=2):
        """``k`` times the content."""
        return self.v * k

    Box.__add__ = plus
    Box.__radd__ = lambda self, other: plus(other, self)
    Box.__neg__ = lambda self: Box(-self.v)
    Box.twice = twice
    Box.half = property(lambda self: self.v / 2, doc="Half the content.")
    Box.__module__ = "toy"
    return Box


def test_operator_table_comes_from_introspection(runtime):
    table = runtime.operator_table(_toy_class())
    rows = {line.split("|")[2].strip(" `"): line for line in table.splitlines()[4:]}
    assert set(rows) == {"__add__", "__radd__", "__neg__"}  # not __init__, not __module__
    assert "`x + y`" in rows["__add__"] and "The sum of two boxes' contents." in rows["__add__"]
    # the lambda's docstring is empty: the table names and summarises what it calls
    assert "`y + x`" in rows["__radd__"] and "plus" in rows["__radd__"]
    assert "The sum of two boxes' contents." in rows["__radd__"]
    assert list(rows) == ["__add__", "__radd__", "__neg__"]  # arithmetic, then unary


def test_runtime_members_are_added_to_the_static_class(runtime):
    import inspect

    import griffe

    Box = _toy_class()
    static = griffe.Class(
        "Box", docstring=griffe.Docstring(inspect.cleandoc(Box.__doc__), parser="numpy")
    )
    static.set_member("peek", griffe.Function("peek"))  # in the source, no docstring
    static.set_member("half", griffe.Attribute("half", value="property(lambda self: ...)"))
    static["peek"].docstring = None
    runtime.complete(static, Box, parser="numpy")
    assert "property" in static["half"].labels and static["half"].value is None
    assert static["half"].docstring.value == "Half the content."
    twice = static["twice"]
    assert [p.name for p in twice.parameters] == ["self", "k"]
    assert twice.parameters["k"].default == "2" and twice.docstring.value.endswith(
        "times the content."
    )
    assert static["peek"].docstring.value == "Look inside."  # taken from the run-time object
    assert "Operators\n---------" in static.docstring.value
    assert [s.kind.value for s in static.docstring.parsed][-1] == "admonition"

"""Griffe extension: document a class as it is at run time, not only as its source reads.

mkdocstrings reads the package's source (static analysis), which misses what a class gets while the
package is imported. ``tinygrad_nca.Tensor`` is the case: its operators (``+``, ``@``, ``x[i]``, ...)
and methods such as ``T``, ``reshape``, ``sum`` and ``exp`` are attached to it by another module,
and its array properties are written ``shape = property(lambda self: ..., doc=...)``, which the
source reader shows as a raw line of code. For each class named in the options, this extension
imports the package, takes the class object and, for every name in its namespace (and in the
namespaces of its bases from the same package):

- a property gets an entry labelled *property*, with the property's docstring;
- a public method missing from the source gets an entry with its run-time signature and docstring
  (a function defined elsewhere says where, and which argument the tensor is);
- an entry that the source has but without a docstring gets the run-time docstring (the
  ``__slots__`` docstrings of ``value``, ``grad``, ``requires_grad``);
- the operators and other special methods are listed in a table (Python expression, method, what
  it calls, the summary line of its docstring), appended to the class docstring as an "Operators"
  section.

Nothing here names a member of the class: the lists come from introspection, so they follow the
engine however its code is laid out. Configured in mkdocs.yml::

    extensions:
      - docs_hooks/runtime_api.py:RuntimeAPI:
          classes: [tinygrad_nca.Tensor]
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import re

import griffe

# What each special method means in Python syntax (the language's data model, not the engine's).
# ``x`` is the instance, ``y`` another operand; a reflected method runs when ``y`` is not one.
_BINARY = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "matmul": "@",
    "truediv": "/",
    "floordiv": "//",
    "mod": "%",
    "pow": "**",
    "lshift": "<<",
    "rshift": ">>",
    "and": "&",
    "or": "|",
    "xor": "^",
}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_OTHER = {
    "neg": "-x",
    "pos": "+x",
    "invert": "~x",
    "abs": "abs(x)",
    "getitem": "x[i]",
    "setitem": "x[i] = y",
    "delitem": "del x[i]",
    "len": "len(x)",
    "iter": "iter(x)",
    "contains": "y in x",
    "bool": "bool(x)",
    "float": "float(x)",
    "int": "int(x)",
    "index": "operator.index(x)",
    "complex": "complex(x)",
    "round": "round(x)",
    "hash": "hash(x)",
    "repr": "repr(x)",
    "str": "str(x)",
    "format": "format(x, spec)",
    "call": "x(...)",
    "array": "np.asarray(x)",
}
# Special names that are not operations on an instance (construction, class machinery).
_NOT_OPERATORS = {
    "__init__",
    "__new__",
    "__init_subclass__",
    "__class_getitem__",
    "__subclasshook__",
    "__getattr__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__dir__",
    "__reduce__",
    "__reduce_ex__",
    "__getstate__",
    "__setstate__",
    "__sizeof__",
    "__copy__",
    "__deepcopy__",
}


def python_syntax(name: str) -> str:
    """The expression that calls special method ``name``: ``__radd__`` -> ``y + x``."""
    core = name[2:-2]
    if core in _BINARY:
        return f"x {_BINARY[core]} y"
    if core.startswith("r") and core[1:] in _BINARY:
        return f"y {_BINARY[core[1:]]} x"
    if core.startswith("i") and core[1:] in _BINARY:
        return f"x {_BINARY[core[1:]]}= y"
    if core in _COMPARE:
        return f"x {_COMPARE[core]} y"
    return _OTHER.get(core, f"x.{name}(...)")


def own_namespace(cls: type) -> dict:
    """Every name defined by ``cls`` or by its bases from the same package, nearest first."""
    package = cls.__module__.split(".")[0]
    names: dict = {}
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == package:
            for name, value in vars(klass).items():
                names.setdefault(name, value)
    return names


def _qualified_name(obj) -> str:
    if type(obj).__name__ == "ufunc":
        return f"numpy.{obj.__name__}"
    module = getattr(obj, "__module__", None)
    name = (
        getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    )
    return f"{module}.{name}" if module else name


def delegate(function) -> tuple[object, str]:
    """What a special method calls, and its dotted name: the function itself when it is a named
    function, else (a lambda, or a closure made by a helper) the callable it closes over or the
    first global it calls, named after the module it is looked up in."""
    function = inspect.unwrap(getattr(function, "__func__", function))
    if not inspect.isfunction(function) or (
        function.__name__ != "<lambda>" and "<locals>" not in function.__qualname__
    ):
        return function, _qualified_name(function)
    for cell in function.__closure__ or ():
        if callable(cell.cell_contents) and not isinstance(cell.cell_contents, type):
            return cell.cell_contents, _qualified_name(cell.cell_contents)
    for name in function.__code__.co_names:
        if name in function.__globals__:
            found, where = function.__globals__[name], function.__globals__.get("__name__", "")
        else:
            found, where = getattr(builtins, name, None), "builtins"
        if callable(found) and not isinstance(found, type):
            return found, f"{where}.{name}"
    return function, _qualified_name(function)


def own_doc(obj) -> str:
    """``obj``'s own docstring, dedented: not one inherited from a base class or from its type."""
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or doc == type(obj).__doc__:
        return ""
    return inspect.cleandoc(doc)


def summary(obj) -> str:
    """The first paragraph of ``obj``'s own docstring, on one line (empty if it has none); a
    first line that only repeats the call signature, as NumPy's have, is skipped."""
    paragraphs = [" ".join(p.split()) for p in own_doc(obj).split("\n\n") if p.strip()]
    if paragraphs and re.fullmatch(r"[\w.]+\(.*\)", paragraphs[0]):
        paragraphs = paragraphs[1:]
    return paragraphs[0] if paragraphs else ""


def _rank(name: str) -> int:
    """Arithmetic first, then unary operators, comparisons, indexing, and the rest."""
    core = name[2:-2]
    if core in _BINARY or core[1:] in _BINARY:
        return 0
    if core in ("neg", "pos", "invert", "abs"):
        return 1
    if core in _COMPARE:
        return 2
    return 3 if core in ("getitem", "setitem", "delitem", "contains", "iter", "len") else 4


def operator_table(cls: type) -> str:
    """Markdown table of the special methods of ``cls`` that Python syntax calls."""
    rows = []
    names = [
        name
        for name, value in own_namespace(cls).items()
        if name.startswith("__")
        and name.endswith("__")
        and name not in _NOT_OPERATORS
        and callable(value)
    ]  # not __slots__, __module__, __array_ufunc__ = None, ...
    for name in sorted(names, key=_rank):
        value = own_namespace(cls)[name]
        target, target_name = delegate(value)
        text = summary(value) or (summary(target) if target is not value else "")
        # a method written in the class body calls nothing worth naming: it is the code itself
        calls = (
            ""
            if target is value
            and getattr(value, "__qualname__", "").startswith(cls.__qualname__ + ".")
            else f"`{target_name}`"
        )
        text = text.replace("|", "\\|")
        rows.append(f"| `{python_syntax(name)}` | `{name}` | {calls} | {text} |")
    if not rows:
        return ""
    return (
        "The special methods of the class at run time, with the Python syntax that calls "
        "them (`x` an instance, `y` another operand) and the function each one calls.\n\n"
        "| expression | method | calls | what it does |\n|---|---|---|---|\n" + "\n".join(rows)
    )


def _annotation(value) -> str | None:
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return None
    return value if isinstance(value, str) else inspect.formatannotation(value)


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
    inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
    inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
    inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
}


def runtime_function(name: str, value, cls: type, _docstring=griffe.Docstring) -> griffe.Function:
    """A Griffe function for method ``name`` of ``cls``, from the run-time object ``value``."""
    function = getattr(value, "__func__", value)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a callable without a readable signature
        signature = inspect.Signature(
            [
                inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
            ]
        )
    parameters = griffe.Parameters(
        *[
            griffe.Parameter(
                p.name,
                kind=_KINDS[p.kind],
                annotation=_annotation(p.annotation),
                default=None if p.default is p.empty else repr(p.default),
            )
            for p in signature.parameters.values()
        ]
    )
    result = griffe.Function(
        name, parameters=parameters, returns=_annotation(signature.return_annotation)
    )
    doc = own_doc(function)
    qualname = getattr(function, "__qualname__", "")
    elsewhere = (
        getattr(function, "__name__", None) == name
        and "<locals>" not in qualname
        and not qualname.startswith(cls.__qualname__ + ".")
    )
    if elsewhere and signature.parameters:  # a function of the package used as the method
        doc = (
            f"The function `{function.__module__}.{qualname}`, attached to `{cls.__name__}` "
            f"as a method: `t.{name}(...)` is `{qualname}(t, ...)`.\n\n{doc}"
        )
    if doc:
        result.docstring = _docstring(doc, parent=result)
    return result


def runtime_property(name: str, value: property, _docstring=griffe.Docstring) -> griffe.Attribute:
    annotation = None
    if value.fget is not None:
        try:
            annotation = _annotation(inspect.signature(value.fget).return_annotation)
        except (TypeError, ValueError):
            pass
    result = griffe.Attribute(name, annotation=annotation)
    result.labels = {"property"} | ({"writable"} if value.fset is not None else set())
    if own_doc(value):
        result.docstring = _docstring(own_doc(value), parent=result)
    return result


def complete(static: griffe.Class, cls: type, parser=None, parser_options=None) -> list[str]:
    """Add to the Griffe class ``static`` what the run-time class ``cls`` has; return the names.

    ``parser`` and its options read the docstrings added (those the package is read with).
    """

    def _docstring(text: str, parent: griffe.Object) -> griffe.Docstring:
        return griffe.Docstring(text, parent=parent, parser=parser, parser_options=parser_options)

    changed = []
    for name, value in own_namespace(cls).items():
        if name.startswith("_"):
            continue
        member = static.members.get(name)
        if isinstance(value, property):
            if (
                member is not None
                and member.is_attribute
                and "property" in member.labels
                and member.docstring
            ):
                continue  # already documented from the source
            new = runtime_property(name, value, _docstring)
        elif callable(value) or isinstance(value, (staticmethod, classmethod)):
            if member is not None:
                if not member.docstring and own_doc(value):
                    member.docstring = _docstring(own_doc(value), parent=member)
                    changed.append(name)
                continue
            new = runtime_function(name, value, cls, _docstring)
        else:  # data: a slot, a class attribute
            doc = (
                getattr(value, "__doc__", None)
                if type(value).__name__ in ("member_descriptor", "getset_descriptor")
                else None
            )
            if member is not None and not member.docstring and doc:
                member.docstring = _docstring(inspect.cleandoc(doc), parent=member)
                changed.append(name)
            continue
        if member is not None:  # keep its place in source order
            new.lineno, new.endlineno = member.lineno, member.endlineno
        static.set_member(name, new)
        changed.append(name)
    table = operator_table(cls)
    if table and static.docstring is not None:
        static.docstring.value = (
            static.docstring.value.rstrip() + "\n\nOperators\n---------\n" + table + "\n"
        )
    return changed


class RuntimeAPI(griffe.Extension):
    """Complete the listed classes (dotted public paths) from their run-time objects."""

    def __init__(self, classes: list[str] | None = None) -> None:
        super().__init__()
        self.classes = list(classes or [])

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        for path in self.classes:
            module_name, _, attribute = path.rpartition(".")
            if module_name.split(".")[0] != pkg.name:
                continue
            cls = getattr(importlib.import_module(module_name), attribute)
            # the class where it is defined, whatever public name it is imported under
            where = f"{cls.__module__}.{cls.__qualname__}"
            static = pkg[where.split(".", 1)[1]]
            complete(static, cls, loader.docstring_parser, loader.docstring_options)

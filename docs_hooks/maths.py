"""MkDocs hook: typeset the maths at build time, as MathML, so that pages need no network and no JS.

Why MathML made at build time, rather than a renderer shipped to the browser: every current
browser (Chromium since 109, Firefox, Safari) lays out MathML Core itself, so a page reads the same
offline, behind a firewall or with JavaScript off, with nothing to download or to bundle and no
flash of raw TeX while a script runs. The conversion is done by ``math-core`` (a LaTeX to MathML
Core converter from PyPI); TeX that it cannot convert fails the build with the page named, instead
of reaching a reader as ``\\frac{...}``.

``pymdownx.arithmatex`` (generic mode) still finds the maths in the Markdown, so that ``_`` and
``*`` inside TeX are not read as emphasis; it leaves

    <span class="arithmatex">\\( TeX \\)</span>     and     <div class="arithmatex">\\[ TeX \\]</div>

in the HTML of every page, docstrings rendered by mkdocstrings included, and this hook replaces
each with ``<math>...</math>``.
"""

from __future__ import annotations

import html
import re

MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*'
    r"(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])"
    r"\s*</(?P=tag)>",
    re.S,
)

_converter = None


def _to_mathml(tex: str, display: bool) -> str:
    global _converter
    if _converter is None:
        import math_core  # imported on first use: a page without maths does not need it

        _converter = math_core.LatexToMathML(fancy_error=False)
    return _converter.convert_with_local_state(tex, displaystyle=display)


def typeset(page_html: str, where: str = "the page") -> str:
    """Replace the arithmatex TeX in ``page_html`` by MathML; raise ValueError on TeX it cannot read."""

    def replace(match: re.Match) -> str:
        display = match["display"] is not None
        tex = html.unescape(match["display"] if display else match["inline"]).strip()
        try:
            mathml = _to_mathml(tex, display)
        except Exception as err:  # math_core.LatexError, with the position in the TeX
            raise ValueError(f"{where}: cannot typeset the maths {tex!r}: {err}") from None
        if display:
            return f'<div class="math-display">{mathml}</div>'
        return mathml

    return MATH.sub(replace, page_html)


def on_page_content(html_text, page, config, files):
    from mkdocs.exceptions import PluginError

    try:
        return typeset(html_text, page.file.src_uri)
    except ValueError as err:
        raise PluginError(str(err)) from None

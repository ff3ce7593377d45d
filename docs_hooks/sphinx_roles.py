"""MkDocs hook: show Sphinx cross-reference roles in docstrings as plain code.

The docstrings follow NumPy's style, whose Sphinx roles (:func:`minimize`, :class:`~pkg.Tensor`)
mkdocstrings leaves as literal text. After rendering, ``:role:<code>name</code>`` becomes
``<code>name</code>``, and a leading ``~`` keeps only the last dotted component, as Sphinx does.
"""

import re

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc):<code>(~?)([^<]*)</code>")


def _plain(match):
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html, page, config, files):
    return ROLE.sub(_plain, html)

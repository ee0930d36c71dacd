"""mkdocs hook: render the Sphinx roles of our docstrings as plain code.

The docstrings are written for ``help()`` and Sphinx alike
(``:class:`~g4f_lite.client.Client```); mkdocstrings leaves the role in
front of the code span. Drop the role, and for a ``~`` target keep only the
last dotted part, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|term|ref):<code>(~?)([^<]*)</code>"
)


def _code(match: re.Match[str]) -> str:
    target = match.group(2)
    if match.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite ``:role:<code>target</code>`` as ``<code>target</code>``."""
    return ROLE.sub(_code, html)

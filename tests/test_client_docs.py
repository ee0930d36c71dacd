"""Every ```python block of docs/client.md runs, against emulators it starts itself.

A block preceded by an ``<!-- not-run: reason -->`` comment is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "client.md"
BLOCK = re.compile(r"(<!-- not-run:[^>]*-->\s*)?```python\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(2))
        for match in BLOCK.finditer(text)
        if match.group(1) is None
    ]


def test_the_page_has_runnable_examples() -> None:
    assert len(blocks()) >= 6


@pytest.mark.parametrize(
    ("line", "code"), blocks(), ids=lambda v: str(v) if isinstance(v, int) else ""
)
def test_example_runs(
    line: int, code: str, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    if '"kind"' in code:  # declares a provider of a first-party kind, as an install has them
        request.getfixturevalue("first_party_plugins")
    exec(compile(code, f"{DOC}:{line}", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out.strip()  # every example shows something

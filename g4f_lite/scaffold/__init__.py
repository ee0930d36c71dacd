"""``g4f-lite new-provider``: write a complete provider plugin distribution.

:func:`run` renders the templates shipped in ``g4f_lite/scaffold/templates``
into ``DIR/g4f-lite-NAME/``: a ``pyproject.toml`` (setuptools, a version,
the ``g4f_lite`` entry point), the provider module, a small emulator of its
protocol built on :class:`g4f_lite.testing.LocalServer`, a test module and a
README. ``pip install -e g4f-lite-NAME`` then ``pytest g4f-lite-NAME`` passes
as generated, and the provider is listed by ``g4f-lite providers --all``.

Two protocols are offered as starting points (``kind``):

* ``sse``: a small custom protocol of server-sent JSON events (``text``,
  ``error``, ``done``), the shape most chat sites have;
* ``openai``: the OpenAI chat-completions wire format, implemented in the
  plugin itself with an API key (``api_key=`` or ``$NAME_API_KEY``), for a
  hosted service that speaks it. (A server that needs nothing more than the
  wire format is configuration, not a plugin: ``kind = "openai"`` in a
  ``[providers.NAME]`` table.)

The generated code imports only the public g4f-lite API, never another plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

from .. import __version__
from ..errors import ConfigurationError

__all__ = ["KINDS", "Kind", "Names", "names_for", "render", "run"]

#: The protocols a new provider can start from.
Kind = Literal["sse", "openai"]
KINDS: tuple[str, ...] = get_args(Kind)

# Lowercase words joined by "-" or "_": it becomes a distribution name, a
# package name, a class name and an environment variable.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
# Distribution and package names already taken by g4f-lite itself.
_RESERVED = frozenset({"aiengine", "anthropic", "gemini", "openai", "opchatgpts", "testing"})

# Template file (under templates/<kind or common>/) -> where it goes in the distribution.
_FILES = {
    "pyproject.toml": "pyproject.toml",
    "README.md": "README.md",
    "py.typed": "{package}/py.typed",
    "provider.py": "{package}/__init__.py",
    "emulator.py": "{package}/emulator.py",
    "test_provider.py": "tests/test_{module}.py",
    "test_conformance.py": "tests/test_{module}_conformance.py",
}


@dataclass(frozen=True)
class Names:
    """Every spelling of a new provider's name the templates use."""

    #: The name as given, lowercased: ``my-site``.
    name: str
    #: The distribution: ``g4f-lite-my-site``.
    dist: str
    #: The importable package: ``g4f_lite_my_site``.
    package: str
    #: The snake-case name: ``my_site`` (entry point, test module).
    module: str
    #: The provider class (and the provider's name): ``MySite``.
    cls: str
    #: The environment variable holding its API key (``openai`` kind): ``MY_SITE_API_KEY``.
    env: str

    def substitutions(self) -> dict[str, str]:
        """The ``{{placeholder}}`` values of the templates."""
        major, minor = __version__.split(".")[:2]
        return {
            "name": self.name,
            "dist": self.dist,
            "package": self.package,
            "module": self.module,
            "cls": self.cls,
            "env": self.env,
            # The g4f-lite API the code is written against: this minor version.
            "requires": f"g4f-lite>={major}.{minor},<{major}.{int(minor) + 1}",
        }


def names_for(name: str) -> Names:
    """The spellings of ``name``.

    Raises :class:`~g4f_lite.errors.ConfigurationError` for a name that
    cannot be a package, or that a g4f-lite distribution already uses.
    """
    lowered = name.strip().lower()
    if lowered.startswith(("g4f-lite-", "g4f_lite_")):
        lowered = lowered[len("g4f-lite-") :]
    if not _NAME.fullmatch(lowered):
        raise ConfigurationError(
            f"provider name {name!r}: use letters and digits, words joined by '-' or '_', "
            "starting with a letter (e.g. 'my-site')"
        )
    module = lowered.replace("-", "_")
    if module in _RESERVED:
        raise ConfigurationError(
            f"provider name {name!r} is taken by a g4f-lite distribution: choose another"
        )
    return Names(
        name=lowered,
        dist=f"g4f-lite-{lowered.replace('_', '-')}",
        package=f"g4f_lite_{module}",
        module=module,
        cls="".join(word.capitalize() for word in module.split("_")),
        env=f"{module.upper()}_API_KEY",
    )


def _template(kind: str, filename: str) -> str:
    """The text of a template: the kind's own, else the common one."""
    root = resources.files(__package__).joinpath("templates")
    own = root.joinpath(kind).joinpath(filename + ".tmpl")
    source = own if own.is_file() else root.joinpath("common").joinpath(filename + ".tmpl")
    return source.read_text(encoding="utf-8")


def render(names: Names, kind: str) -> dict[str, str]:
    """The files of the distribution for ``names`` and ``kind``: relative path -> text."""
    if kind not in KINDS:
        raise ConfigurationError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    values = names.substitutions()
    files = {}
    for template, target in _FILES.items():
        text = _template(kind, template)
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        files[target.format(**values)] = text
    return files


def run(name: str, kind: str = "sse", directory: str | Path = ".") -> Path:
    """Write the distribution ``g4f-lite-NAME/`` into ``directory`` and return its path.

    Refuses (:class:`~g4f_lite.errors.ConfigurationError`) a name that cannot
    be a package, an unknown ``kind``, and a target that already exists, so
    that nothing is ever overwritten.
    """
    names = names_for(name)
    files = render(names, kind)
    target = Path(directory) / names.dist
    if target.exists():
        raise ConfigurationError(f"{target} already exists: remove it or choose another --dir")
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target

"""The top-level API: what `import g4f_lite` offers, and what it costs.

Each check runs in a fresh interpreter: in this process other tests have long
imported the submodules, which would hide a name reachable only by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import g4f_lite
from g4f_lite import errors

HEAVY = ("aiohttp", "pydantic", "pluggy", "tenacity")

ERROR_NAMES = sorted(
    name
    for name in errors.__all__
    if isinstance(getattr(errors, name), type)
    and issubclass(getattr(errors, name), (Exception, Warning))
)


def fresh(code: str) -> str:
    """Run ``code`` in a new interpreter and return what it printed."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    ).stdout.strip()


def test_errors_submodule_works_right_after_import() -> None:
    out = fresh(
        "import g4f_lite; e = g4f_lite.errors.RateLimitError('P', 429); "
        "print(type(e).__name__, e.provider, e.retryable)"
    )
    assert out == "RateLimitError P True"


def test_every_error_is_reachable_both_ways_as_the_same_object() -> None:
    code = (
        "import json, g4f_lite; names = " + repr(ERROR_NAMES) + "; "
        "top = {n: getattr(g4f_lite, n) for n in names}; "
        "print(json.dumps({n: top[n] is getattr(g4f_lite.errors, n) for n in names}))"
    )
    assert json.loads(fresh(code)) == dict.fromkeys(ERROR_NAMES, True)


def test_top_level_names_before_submodule_access() -> None:
    # The other order: a top-level error first, then the submodule.
    out = fresh(
        "import g4f_lite; cls = g4f_lite.ProviderError; "
        "print(cls is g4f_lite.errors.ProviderError, issubclass(cls, g4f_lite.G4FLiteError))"
    )
    assert out == "True True"


def test_catching_by_the_top_level_name() -> None:
    out = fresh(
        "import g4f_lite\n"
        "try:\n"
        "    raise g4f_lite.errors.error_for_status('P', 429)\n"
        "except g4f_lite.RateLimitError as exc:\n"
        "    print(exc)\n"
    )
    assert out == "P: HTTP 429"


def test_common_errors_are_exported_at_the_top_level() -> None:
    for name in (
        "G4FLiteError",
        "ConfigurationError",
        "InvalidMessagesError",
        "ProviderError",
        "NoProviderAvailableError",
        "AllProvidersFailedError",
        "HTTPStatusError",
        "RateLimitError",
        "ServerError",
        "ProviderTimeoutError",
        "TotalTimeoutError",
        "RequestRejectedError",
    ):
        assert name in g4f_lite.__all__
        assert getattr(g4f_lite, name) is getattr(errors, name)


def test_all_is_sorted_complete_and_listed_by_dir() -> None:
    exported = g4f_lite.__all__
    assert exported == sorted(set(exported))
    assert set(ERROR_NAMES) <= set(exported)
    assert "errors" in exported
    out = json.loads(
        fresh(
            "import json, g4f_lite; "
            "print(json.dumps([dir(g4f_lite), "
            "[n for n in g4f_lite.__all__ if getattr(g4f_lite, n, None) is None]]))"
        )
    )
    listed, unresolved = out
    assert set(exported) <= set(listed)
    assert unresolved == []


def test_star_import_gives_every_public_name() -> None:
    out = fresh(
        "from g4f_lite import *; "
        "print(RateLimitError.__module__, errors.__name__, ChatCompletion.__name__)"
    )
    assert out == "g4f_lite.errors g4f_lite.errors ChatCompletion"


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    out = fresh(
        "import g4f_lite\n"
        "try:\n"
        "    g4f_lite.NoSuchError\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    assert out == "module 'g4f_lite' has no attribute 'NoSuchError'"


def test_import_and_errors_load_nothing_heavy() -> None:
    loaded = f"[m for m in {HEAVY!r} if m in sys.modules]"
    code = (
        f"import sys, json, g4f_lite; before = {loaded}; "
        "g4f_lite.errors.RateLimitError; g4f_lite.AllProvidersFailedError; "
        f"after = {loaded}; print(json.dumps([before, after]))"
    )
    assert json.loads(fresh(code)) == [[], []]


def test_every_public_name_has_a_docstring() -> None:
    for name in g4f_lite.__all__:
        if name in ("__version__", "Messages"):
            continue
        value = getattr(g4f_lite, name)
        assert getattr(value, "__doc__", None), name


def test_clients_and_their_results_are_exported_lazily() -> None:
    names = ["Client", "AsyncClient", "Stream", "AsyncStream", "Completion", "CompletionChunk"]
    assert set(names) <= set(g4f_lite.__all__)
    loaded = f"[m for m in {HEAVY!r} if m in sys.modules]"
    code = (
        f"import sys, json, g4f_lite; before = {loaded}; "
        "from g4f_lite import client; "
        f"same = [getattr(g4f_lite, n) is getattr(client, n) for n in {names!r}]; "
        "print(json.dumps([before, same]))"
    )
    assert json.loads(fresh(code)) == [[], [True] * len(names)]


def test_users_and_authors_are_told_apart_in_the_docstring() -> None:
    doc = g4f_lite.__doc__ or ""
    users, authors = doc.index("What applications call"), doc.index("What provider authors use")
    assert users < doc.index(":class:`Client`") < authors
    assert authors < doc.index(":class:`AsyncGeneratorProvider`")


def test_router_internals_live_in_their_module() -> None:
    assert "CircuitBreaker" not in g4f_lite.__all__
    assert "InMemoryHealthStore" not in g4f_lite.__all__
    out = fresh(
        "import warnings, g4f_lite, g4f_lite.health as h\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    cls = g4f_lite.CircuitBreaker\n"
        "warning = seen[0]\n"
        "print(cls is h.CircuitBreaker, warning.category.__name__,\n"
        "      'g4f_lite.health' in str(warning.message))"
    )
    assert out == "True DeprecationWarning True"

"""Every ```python block of README.md and docs/*.md runs as written, against emulators.

One test per block, named ``page:line`` (the line of its opening fence).

Conventions (documented for authors in docs/index.md, "Samples on these pages"):

- A block preceded (on the previous non-blank line) by ``<!-- not-run: reason -->``
  is not run; the reason is required. Other fences (bash, toml, json, text)
  are never run.
- Blocks on one page share a namespace, in page order, as if typed into one
  interpreter session: a block may use names an earlier block defined. So
  that tests stay independent (they run in random order and in parallel),
  the test of a block runs the page's earlier runnable blocks first, then
  its own block; a failure in an earlier block names that block.
- A block with ``await`` / ``async with`` / ``async for`` at top level runs
  as a coroutine on an event loop owned by the test (one loop per test, so
  objects made by one such block can be used by the next); other blocks run
  as plain code, outside any loop, so ``asyncio.run`` works in them.
- Every page gets what an install has: every first-party plugin loaded, no
  provider keys in the environment (``*_API_KEY`` and ``*_TOKEN`` unset), a
  fresh temporary working directory, and no connection anywhere but the
  loopback interface (a sample that tries the internet fails).
- Some pages promise more, and their entry in ``PAGES`` provides it: README
  has an AI Engine emulator on 127.0.0.1:8081 and ``GROQ_API_KEY`` set with
  Groq's ``base_url`` aimed at an OpenAI-compatible emulator; router.md has
  ``Opchatgpts``, ``SiteA`` and ``SiteB`` on emulators; server.md has
  ``g4f-lite serve`` on 127.0.0.1:1337 (key ``s3cret``). A fixed port is
  taken under a file lock, so parallel runs wait for each other.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import fcntl
import inspect
import ipaddress
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from g4f_lite import config, http
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.testing import AIEngineEmulator, OpenAIEmulator

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY_PLUGINS = "opchatgpts,aiengine,openai,anthropic,gemini"

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
MARKER = re.compile(r"^\s*<!--\s*not-run\b(?P<rest>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced ```python block of a Markdown page."""

    page: Path
    line: int  # of the opening fence, 1-based
    code: str  # dedented to the fence's indentation
    not_run: str | None  # the reason given in the marker, None when it runs

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


class MarkerError(ValueError):
    """A ``not-run`` marker without a reason, or malformed."""


def parse_blocks(page: Path, text: str) -> list[Block]:
    """The ```python blocks of ``text`` (the contents of ``page``), in order.

    Raises :class:`MarkerError` for a ``not-run`` marker that gives no reason.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if opening["info"].lower() in ("python", "py", "python3"):
            body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
            blocks.append(
                Block(page, index + 1, "\n".join(body) + "\n", _marker(page, lines, index))
            )
        index = end + 1
    return blocks


def _marker(page: Path, lines: list[str], fence: int) -> str | None:
    previous = fence - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None
    marker = MARKER.match(lines[previous])
    if marker is None:
        return None
    rest = marker["rest"].strip()
    reason = rest.removeprefix(":").strip()
    if not rest.startswith(":") or not reason:
        raise MarkerError(
            f"{page.name}:{previous + 1}: write the reason: <!-- not-run: why it cannot run -->"
        )
    return reason


def pages() -> list[Path]:
    """README.md and every page directly under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in parse_blocks(page, page.read_text())]


# -- running a page ------------------------------------------------------------------------


def compile_block(block: Block) -> Any:
    """The block's code object, its line numbers those of the Markdown page."""
    source = "\n" * block.line + block.code
    return compile(
        source,
        str(block.page),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


class EarlierBlockFailed(Exception):
    """A block this one depends on (an earlier one on its page) failed."""


def run_block(block: Block, loop: asyncio.AbstractEventLoop, namespace: dict[str, Any]) -> None:
    """Run one block in ``namespace``: on ``loop`` when it awaits at top level."""
    code = compile_block(block)
    if code.co_flags & inspect.CO_COROUTINE:
        loop.run_until_complete(eval(code, namespace))
    else:
        exec(code, namespace)


def run_page(
    blocks: list[Block], loop: asyncio.AbstractEventLoop, namespace: dict[str, Any]
) -> None:
    """Run the earlier ``blocks`` a block depends on, naming the one that fails."""
    for block in blocks:
        try:
            run_block(block, loop, namespace)
        except Exception as error:
            raise EarlierBlockFailed(f"{block.id} failed: {error!r}") from error


@contextlib.contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop for a test's top-level-await blocks, shut down as ``asyncio.run`` does."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        try:
            loop.run_until_complete(http.aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


# -- what every page gets ------------------------------------------------------------------

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): a local wildcard
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in LOOPBACK_NAMES or name == "":
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection and name lookup that is not on the loopback interface."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(host: object) -> OSError:
        return OSError(f"docs samples may only connect to 127.0.0.1, not {host!r}")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refuse(address[0])
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refuse(address[0])
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, offline: None) -> None:
    """What a fresh install has: every first-party plugin, no keys, an empty directory."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_TOKEN")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(ENV_PLUGINS, FIRST_PARTY_PLUGINS)
    registry.reset()
    monkeypatch.chdir(tmp_path)


@contextlib.contextmanager
def port_lock(port: int) -> Iterator[None]:
    """Hold ``port`` for this test against other test processes on this machine."""
    path = Path(tempfile.gettempdir()) / f"g4f-lite-docs-port-{port}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- what some pages promise ----------------------------------------------------------------

Setup = Callable[[contextlib.ExitStack, pytest.MonkeyPatch], None]


def use_config(toml: str) -> None:
    """Write ./g4f-lite.toml (a ``Client`` finds it) and load it, as the CLI does."""
    Path(config.DEFAULT_CONFIG_FILE).write_text(toml)
    config.configure()


def readme(stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m g4f_lite.testing --port 8081 &`, and a Groq key with Groq emulated."""
    stack.enter_context(port_lock(8081))
    stack.enter_context(AIEngineEmulator(port=8081).run_in_thread())
    groq = stack.enter_context(
        OpenAIEmulator(api_key="gsk_docs", models=["llama-3.1-8b-instant"]).run_in_thread()
    )
    monkeypatch.setenv("GROQ_API_KEY", "gsk_docs")
    use_config(f'[providers.Groq]\nbase_url = "{groq.url}"\n')


def router_page(stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opchatgpts, SiteA and SiteB, each an emulated AI Engine site."""
    sites = [stack.enter_context(AIEngineEmulator().run_in_thread()) for _ in range(3)]
    use_config(
        f'[providers.Opchatgpts]\nbase_url = "{sites[0].url}"\n'
        f'[providers.SiteA]\nkind = "aiengine"\nurl = "{sites[1].url}"\n'
        f'[providers.SiteB]\nkind = "aiengine"\nurl = "{sites[2].url}"\n'
    )


def server_page(stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`G4F_LITE_API_KEY=s3cret g4f-lite serve` with Opchatgpts and a local llama3.1 server."""
    from g4f_lite.server import Server, ServerSettings

    site = stack.enter_context(AIEngineEmulator().run_in_thread())
    llama = stack.enter_context(OpenAIEmulator(models=["llama3.1"]).run_in_thread())
    use_config(
        f'[providers.Opchatgpts]\nbase_url = "{site.url}"\n'
        f'[providers.LocalLlama]\nkind = "openai"\nbase_url = "{llama.url}"\n'
        'models = ["llama3.1"]\n'
    )
    stack.enter_context(port_lock(1337))
    stack.enter_context(
        Server(ServerSettings(port=1337, api_key=SecretStr("s3cret"))).run_in_thread()
    )


PROVIDERS_TOML = """\
[providers.Opchatgpts]
base_url = "http://127.0.0.1:8081"
proxy = "http://proxy.local:3128"
timeout = 60
enabled = true

[router]
strategy = "least-failures"
retry = { max_attempts = 2 }
"""


def providers_page(stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ./g4f-lite.toml like the page's example, for `configure("g4f-lite.toml")`."""
    Path("g4f-lite.toml").write_text(PROVIDERS_TOML)


@dataclass(frozen=True)
class Page:
    """What a page's samples may count on, beyond what every page gets."""

    setup: Setup | None = None
    #: every block prints something (the page says each one shows its result)
    prints: bool = False


PAGES: dict[str, Page] = {
    "README.md": Page(readme),
    "docs/index.md": Page(readme),
    "docs/router.md": Page(router_page),
    "docs/server.md": Page(server_page),
    "docs/providers.md": Page(providers_page),
    "docs/client.md": Page(prints=True),
}


# -- the tests -----------------------------------------------------------------------------


def _params() -> list[Any]:
    params = []
    for page in pages():
        try:
            blocks = parse_blocks(page, page.read_text())
        except MarkerError as error:  # reported by the page's own failing test
            params.append(pytest.param(error, id=f"{page.relative_to(ROOT)}:marker"))
            continue
        for block in blocks:
            reason = block.not_run
            marks = [pytest.mark.skip(reason=f"{block.id}: not-run: {reason}")] if reason else []
            params.append(pytest.param(block, id=block.id, marks=marks))
    return params


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("block", _params())
def test_sample_runs(
    block: Block | MarkerError,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if isinstance(block, MarkerError):
        raise block
    page = PAGES.get(str(block.page.relative_to(ROOT)), Page())
    earlier = [
        other
        for other in parse_blocks(block.page, block.page.read_text())
        if other.line < block.line and other.not_run is None
    ]
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with contextlib.ExitStack() as stack:
        if page.setup is not None:
            page.setup(stack, monkeypatch)
        loop = stack.enter_context(event_loop())
        run_page(earlier, loop, namespace)
        capsys.readouterr()  # what the earlier blocks printed is theirs
        run_block(block, loop, namespace)
    if page.prints:
        assert capsys.readouterr().out.strip(), f"{block.id} shows nothing"


def test_the_client_page_runs_its_examples() -> None:
    # The Client page promises that its examples run as they are.
    client_page = ROOT / "docs" / "client.md"
    runnable = [b for b in parse_blocks(client_page, client_page.read_text()) if not b.not_run]
    assert len(runnable) >= 6


# -- the runner itself -----------------------------------------------------------------------

PAGE = """\
# A page

```python
x = 1
```

<!-- not-run: needs a real key -->

```python
call_the_real_service()
```

* In a list:

  ```python
  y = x + 1
  ```

```bash
echo not python
```

```python
import asyncio

await asyncio.sleep(0)
z = y + 1
```
"""


def test_blocks_are_found_with_their_lines_markers_and_indentation() -> None:
    blocks = parse_blocks(ROOT / "page.md", PAGE)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (3, "x = 1\n", None),
        (9, "call_the_real_service()\n", "needs a real key"),
        (15, "y = x + 1\n", None),
        (23, "import asyncio\n\nawait asyncio.sleep(0)\nz = y + 1\n", None),
    ]
    assert blocks[0].id == "page.md:3"


@pytest.mark.parametrize("marker", ["<!-- not-run -->", "<!-- not-run: -->", "<!-- not-run:  -->"])
def test_a_not_run_marker_needs_a_reason(marker: str) -> None:
    with pytest.raises(MarkerError, match="write the reason"):
        parse_blocks(ROOT / "page.md", f"{marker}\n```python\npass\n```\n")


def test_blocks_share_a_namespace_and_await_at_top_level() -> None:
    blocks = [b for b in parse_blocks(ROOT / "page.md", PAGE) if not b.not_run]
    namespace: dict[str, Any] = {}
    with event_loop() as loop:
        run_page(blocks, loop, namespace)
    assert namespace["z"] == 3


def test_a_failing_earlier_block_is_named() -> None:
    blocks = parse_blocks(ROOT / "page.md", "```python\n1 / 0\n```\n\n```python\npass\n```\n")
    with event_loop() as loop, pytest.raises(EarlierBlockFailed, match=r"page\.md:1 failed"):
        run_page(blocks, loop, {})


def test_a_traceback_points_at_the_markdown_line() -> None:
    (block,) = parse_blocks(ROOT / "page.md", "text\n\n```python\nx = 1\nraise KeyError(x)\n```\n")
    with event_loop() as loop, pytest.raises(KeyError) as info:
        run_block(block, loop, {})
    assert info.traceback[-1].lineno + 1 == 5  # pytest counts from 0


@pytest.mark.usefixtures("offline")
def test_samples_cannot_reach_the_internet() -> None:
    with pytest.raises(OSError, match="may only connect to"):
        socket.getaddrinfo("example.org", 443)
    with socket.socket() as sock, pytest.raises(OSError, match="may only connect to"):
        sock.connect(("93.184.215.14", 443))

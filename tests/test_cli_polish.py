"""The command line as a new user meets it: options, errors, hints, output, start-up."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import g4f_lite
from g4f_lite import ChatCompletion
from g4f_lite.cli import main
from g4f_lite.cli._main import _setup_logging
from g4f_lite.cli._output import cli_text
from g4f_lite.cli._parser import build_parser
from g4f_lite.cli._term import LogHandler, Spinner
from g4f_lite.registry import registry
from g4f_lite.selection import no_provider_error
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.testing.__main__ import main as emulator_main


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def screen_lines(written: str) -> list[str]:
    r"""What a terminal shows for ``written``: each line after its last ``\r``, erasures removed."""
    return [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in written.split("\n")]


@pytest.fixture
def site_config(aiengine_emulator: AIEngineEmulator, tmp_path: Path) -> Path:
    """A configuration aiming Opchatgpts at the emulator, one attempt per provider."""
    path = tmp_path / "g4f-lite.toml"
    path.write_text(
        f'[providers.Opchatgpts]\nbase_url = "{aiengine_emulator.url}"\n'
        "[router]\nretry = { max_attempts = 1 }\n"
    )
    return path


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with this one's path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )


# -- global options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "config", "debug"),
    [
        (["--config", "a.toml", "--debug", "providers"], "a.toml", True),
        (["providers", "--config", "b.toml", "--debug"], "b.toml", True),
        (["--debug", "serve", "--config", "c.toml", "--port", "0"], "c.toml", True),
        (["--config", "d.toml", "chat", "hi"], "d.toml", False),
        (["chat", "hi"], None, False),
    ],
)
def test_global_options_go_before_or_after_the_command(
    argv: list[str], config: str | None, debug: bool
) -> None:
    args = build_parser().parse_args(argv)
    assert (args.config, args.debug) == (config, debug)


def test_config_after_the_command_is_read(
    site_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "-p", "Opchatgpts", "--config", str(site_config), "Hello"]) == 0
    assert capsys.readouterr().out.endswith("You said: Hello\n")
    assert main(["providers", "--config", str(site_config.with_name("missing.toml"))]) == 1
    assert "missing.toml" in capsys.readouterr().err


# -- errors -----------------------------------------------------------------------------


def test_a_port_in_use_is_a_one_line_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    assert err.startswith(f"g4f-lite: error: cannot serve on 127.0.0.1:{port}: ")
    assert "address already in use" in err


@pytest.mark.usefixtures("first_party_plugins")
def test_every_provider_failing_is_one_line_the_list_with_debug(
    aiengine_emulator: AIEngineEmulator, site_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_config.write_text(
        site_config.read_text()
        + f'[providers.Second]\nkind = "aiengine"\nurl = "{aiengine_emulator.url}"\n'
    )
    aiengine_emulator.faults.extend([Fault.http_status(500), Fault.error_body("second broke")])
    argv = ["chat", "--config", str(site_config), "-p", "Opchatgpts", "-p", "Second", "hi"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match(
        r"g4f-lite: error: all 2 provider\(s\) failed \(2 attempt\(s\) in [\d.]+ s\); "
        r"the last: Second #1: .*second broke.* \(--debug lists each\)\n",
        err,
    ), err
    aiengine_emulator.faults.extend([Fault.http_status(500), Fault.error_body("second broke")])
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "  1. Opchatgpts #1: " in err and "  2. Second #1: " in err
    assert err.splitlines()[-1].startswith("g4f-lite: error: all 2 provider(s) failed")


def test_hints_name_the_flags_not_the_arguments(
    site_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = str(no_provider_error("m", {"A": ["cannot stream"]}))
    assert "provider=..." in library  # the library speaks Python...
    assert "name one with -p NAME" in cli_text(library)  # ...the command line its flags
    assert cli_text("or provider=None to let the router choose") == (
        "or leave out -p to let the router choose"
    )
    assert main(["chat", "--config", str(site_config), "-m", "no-such-model", "hi"]) == 1
    err = capsys.readouterr().err
    assert "Opchatgpts: not working (name it with -p to use it anyway)" in err
    assert "provider=" not in err and "None" not in err and "model=" not in err


# -- logging ------------------------------------------------------------------------


async def test_log_records_never_land_on_the_spinner_line() -> None:
    terminal = FakeTerminal()
    logger = logging.getLogger("g4f_lite.test_cli_polish")
    handler = LogHandler(terminal)
    logger.addHandler(handler)
    try:
        async with Spinner(terminal, interval=0.01):
            await asyncio.sleep(0)  # the first frame is drawn at once
            assert "waiting" in terminal.getvalue()
            logger.warning("provider X benched for 30 s")
            await asyncio.sleep(0.05)  # the spinner draws again after the record
    finally:
        logger.removeHandler(handler)
    assert "g4f-lite: warning: provider X benched for 30 s" in screen_lines(terminal.getvalue())


def test_the_cli_logs_through_its_own_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest's own handlers would make basicConfig do nothing: start bare, as a process does.
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    terminal = FakeTerminal()
    _setup_logging("chat", False, terminal)
    [handler] = logging.root.handlers
    assert isinstance(handler, LogHandler) and logging.root.level == logging.WARNING
    logging.getLogger("g4f_lite.router").info("not shown")
    logging.getLogger("g4f_lite.router").warning("shown")
    assert terminal.getvalue() == "g4f-lite: warning: shown\n"


def test_a_plain_script_prints_no_library_warnings() -> None:
    # As the router would log it, once it is loaded (import g4f_lite alone
    # loads no module that logs, nor logging itself).
    warn = "logging.getLogger('g4f_lite.router').warning('provider X benched')"
    silent = python(f"import logging, g4f_lite.router; {warn}")
    assert silent.returncode == 0 and silent.stderr == ""
    configured = python(f"import logging, g4f_lite.router; logging.basicConfig(); {warn}")
    assert "provider X benched" in configured.stderr


# -- check ------------------------------------------------------------------------------


def test_check_takes_a_base_url_and_keeps_the_whole_error(
    aiengine_emulator: AIEngineEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "Opchatgpts", "--base-url", aiengine_emulator.url]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["Opchatgpts", "ok"]
    reason = "the quota of this key is spent " + "and so on " * 12 + "UNTIL-MONDAY"
    aiengine_emulator.fault = Fault.error_body(reason)
    assert main(["check", "Opchatgpts", "--base-url", aiengine_emulator.url]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert "FAIL" in row and row.rstrip().endswith("UNTIL-MONDAY"), row
    assert main(["check", "--base-url", aiengine_emulator.url]) == 1
    assert "--base-url needs exactly one PROVIDER" in capsys.readouterr().err


def test_check_shows_progress_on_a_terminal(
    aiengine_emulator: AIEngineEmulator, site_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aiengine_emulator.fault = Fault.slow_first_byte(delay=0.3)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["check", "--config", str(site_config), "Opchatgpts"]) == 0
    assert "checking 1 provider(s): 0/1 done" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")  # erased before the table
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert main(["check", "--config", str(site_config), "Opchatgpts"]) == 0
    assert piped.getvalue() == ""


# -- chat sessions ------------------------------------------------------------------


def test_an_unknown_session_command_lists_the_commands(
    aiengine_emulator: AIEngineEmulator,
    site_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/rest\n/usr/bin is a path\nhello\n/exit\n"))
    assert main(["chat", "--config", str(site_config), "-i", "-p", "Opchatgpts"]) == 0
    captured = capsys.readouterr()
    assert "unknown command /rest; commands: /reset" in captured.err
    said = [r.body["messages"][-1]["content"] for r in aiengine_emulator.requests]
    assert said == ["/usr/bin is a path", "hello"]


# -- the library's arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    "filters", [{"working": "yes"}, {"supports_tools": 1}, {"available": "no"}]
)
def test_a_filter_that_is_not_a_bool_is_a_type_error(filters: dict[str, object]) -> None:
    with pytest.raises(TypeError, match="must be True, False or None"):
        g4f_lite.providers(**filters)  # type: ignore[arg-type]
    if "available" not in filters:
        with pytest.raises(TypeError, match="must be True, False or None"):
            registry.find(**filters)  # type: ignore[arg-type]


def test_a_misspelled_option_is_reported_once_naming_the_match(
    aiengine_emulator: AIEngineEmulator,
) -> None:
    def ask(**options: Any) -> str:
        answer = ChatCompletion.create(
            "",
            [{"role": "user", "content": "hi"}],
            provider="Opchatgpts",
            base_url=aiengine_emulator.url,
            **options,
        )
        return str(answer)

    with pytest.warns(UserWarning, match=r"'temprature'.*did you mean 'temperature'\?"):
        assert ask(temprature=0.2).endswith("You said: hi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ask(temprature=0.2)  # once per key
        ask(use_nonce=False)  # the provider's own option
        ask(frobnicate_level=3)  # unknown to all, close to nothing: passed on silently


# -- start-up -------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["providers", "--help"], ["chat", "--help"]])
def test_help_imports_nothing_but_the_parser(argv: list[str]) -> None:
    probe = python(
        "import argparse, json, sys\n"
        "before = set(sys.modules)\n"
        "from g4f_lite.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(set(sys.modules) - before)), file=sys.stderr)\n"
    )
    assert probe.returncode == 0, probe.stderr
    assert "usage: g4f-lite" in probe.stdout
    loaded = set(json.loads(probe.stderr.splitlines()[-1]))
    ours = {name for name in loaded if name.split(".")[0] == "g4f_lite"}
    assert ours <= {"g4f_lite", "g4f_lite.cli", "g4f_lite.cli._main", "g4f_lite.cli._parser"}
    # Only the standard library besides, and none of its heavy parts.
    assert {name.split(".")[0] for name in loaded - ours} <= sys.stdlib_module_names
    assert not loaded & {"asyncio", "ssl", "socket", "concurrent.futures", "subprocess"}


def test_the_emulator_help_reads_as_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        emulator_main(["--help"])
    text = capsys.readouterr().out
    assert "Serve the AI Engine emulator" in text and "`" not in text


# -- /v1/providers and providers --json ---------------------------------------------------


async def test_served_providers_have_the_cli_shape_plus_excluded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with (
        Server(ServerSettings(port=0)) as server,
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/providers") as response,
    ):
        served = await response.json()
    assert await asyncio.to_thread(main, ["providers", "--json", "--all"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert served["object"] == "list"
    assert [p["name"] for p in served["data"]] == [p["name"] for p in listed]
    for cli_entry, server_entry in zip(listed, served["data"], strict=True):
        assert set(server_entry) == set(cli_entry) | {"excluded"}

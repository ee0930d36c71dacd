"""The g4f-lite command line, through its console-script entry point."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

import g4f_lite
from g4f_lite.cli import main
from g4f_lite.testing import AIEngineEmulator, Fault


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``g4f-lite`` script as a user would."""
    exe = shutil.which("g4f-lite", path=os.path.dirname(sys.executable)) or "g4f-lite"
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "G4F_LITE_PLUGINS": "opchatgpts"},
    )


def test_demo_streams_an_answer_offline() -> None:
    result = run_cli("demo", "Hi demo")
    assert result.returncode == 0, result.stderr
    assert "emulated AI Engine site at http://127.0.0.1:" in result.stderr
    assert "'Hi demo'" in result.stdout and "Opchatgpts" in result.stdout


def test_providers_json_is_machine_readable() -> None:
    result = run_cli("providers", "--json")
    assert result.returncode == 0, result.stderr
    [info] = json.loads(result.stdout)
    assert info["name"] == "Opchatgpts" and info["plugin"] == "g4f-lite-opchatgpts"


def test_providers_table_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--stream", "--model", "gpt-3.5-turbo"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["name", "available", "working", "stream"]
    assert table[1].split()[:4] == ["Opchatgpts", "yes", "-", "yes"]
    assert main(["providers", "--working"]) == 0
    assert capsys.readouterr().out == "no available provider matches (--all lists the others too)\n"
    assert main(["providers", "--working", "--all"]) == 0
    assert capsys.readouterr().out == "no provider matches\n"


def test_chat_streams_from_a_site(
    aiengine_emulator: AIEngineEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["chat", "-p", "opchatgpts", "--base-url", aiengine_emulator.url, "Hello there"])
    assert code == 0
    assert capsys.readouterr().out == "Hello from the AI Engine emulator! You said: Hello there\n"


def test_user_errors_are_one_line_without_traceback() -> None:
    result = run_cli("chat", "-p", "opchatgpt", "hi")
    assert result.returncode == 1
    assert (
        result.stderr
        == "g4f-lite: error: no provider named 'opchatgpt'; did you mean Opchatgpts?\n"
    )


def test_provider_failures_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chat", "-p", "Opchatgpts", "--base-url", "http://127.0.0.1:9", "hi"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("g4f-lite: error: Opchatgpts: ") and "Traceback" not in err


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["chat", "--timeout", "soon", "hi"])
    assert caught.value.code == 2
    assert "--timeout" in capsys.readouterr().err


# -- the full command line ------------------------------------------------------------


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def site_config(aiengine_emulator: AIEngineEmulator, tmp_path: Path) -> Path:
    """A configuration file aiming Opchatgpts at the emulator."""
    path = tmp_path / "g4f-lite.toml"
    path.write_text(f'[providers.Opchatgpts]\nbase_url = "{aiengine_emulator.url}"\n')
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"g4f-lite {g4f_lite.__version__}\n"


def test_providers_filters_cover_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--no-working", "--history", "--gpt-35-turbo", "--no-auth"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("Opchatgpts ")
    for flag in ("--gpt-4", "--system", "--auth", "--no-stream"):
        assert main(["providers", "--all", flag]) == 0
        assert capsys.readouterr().out == "no provider matches\n", flag
    assert main(["providers", "--json", "--plugin", "config"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_providers_table_is_styled_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["providers"]) == 0
    styled = terminal.getvalue()
    assert "\x1b[1mname\x1b[0m" in styled and "─" in styled
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", plain)
    assert main(["providers"]) == 0
    assert "\x1b[" not in plain.getvalue()


def test_chat_system_message_and_no_stream(
    aiengine_emulator: AIEngineEmulator, site_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["-p", "Opchatgpts", "-s", "Be brief", "--no-stream"]
    code = main(["--config", str(site_config), "chat", *options, "Hello", "there"])
    assert code == 0
    assert capsys.readouterr().out == "Hello from the AI Engine emulator! You said: Hello there\n"
    sent = aiengine_emulator.requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief"}


def test_chat_reads_a_piped_prompt(
    site_config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("from a pipe\n"))
    assert main(["--config", str(site_config), "chat", "-p", "Opchatgpts"]) == 0
    assert capsys.readouterr().out.endswith("You said: from a pipe\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["--config", str(site_config), "chat", "-p", "Opchatgpts"]) == 1
    assert "no prompt" in capsys.readouterr().err


def test_chat_session_keeps_history(
    aiengine_emulator: AIEngineEmulator,
    site_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The second question fails (a 400 is not retried): reported, forgotten, session goes on.
    aiengine_emulator.faults.extend([Fault.stall(delay=0), Fault.http_status(400)])
    lines = "first\nbroken\nsecond\n/reset\nthird\n/exit\nnever sent\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    code = main(["--config", str(site_config), "chat", "-i", "-p", "Opchatgpts", "-s", "Sys"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.splitlines() == [
        f"Hello from the AI Engine emulator! You said: {word}"
        for word in ("first", "second", "third")
    ]
    assert captured.err.startswith("g4f-lite: error: Opchatgpts: HTTP 400")
    assert "(conversation forgotten)" in captured.err
    conversations = [r.body["messages"] for r in aiengine_emulator.requests]
    assert [m["content"] for m in conversations[2]] == [
        "Sys",
        "first",
        "Hello from the AI Engine emulator! You said: first",
        "second",
    ]
    assert [m["content"] for m in conversations[3]] == ["Sys", "third"]
    assert len(conversations) == 4


def test_spinner_only_on_a_terminal(
    aiengine_emulator: AIEngineEmulator, site_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aiengine_emulator.fault = Fault.slow_first_byte(delay=0.3)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["--config", str(site_config), "chat", "-p", "Opchatgpts", "hi"]) == 0
    assert "⠋ waiting" in terminal.getvalue() and terminal.getvalue().endswith("\r\x1b[K")
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert main(["--config", str(site_config), "chat", "-p", "Opchatgpts", "hi"]) == 0
    assert piped.getvalue() == ""


def test_check_prints_a_health_table(site_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(site_config), "check", "opchatgpts"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["provider", "status", "ttfc", "total", "chars", "error"]
    assert row.split()[:2] == ["Opchatgpts", "ok"]
    assert main(["--config", str(site_config), "check", "--json", "Opchatgpts"]) == 0
    [probe] = json.loads(capsys.readouterr().out)
    assert probe["ok"] is True and probe["chars"] > 0 and probe["error"] is None


def test_check_fails_for_a_broken_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[providers.Opchatgpts]\nbase_url = "http://127.0.0.1:9"\n')
    assert main(["--config", str(path), "check", "Opchatgpts", "--timeout", "5"]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split()[:2] == ["Opchatgpts", "FAIL"] and "ProviderConnectionError" not in row
    assert "Opchatgpts:" in row
    assert main(["check"]) == 0  # nothing is working: nothing to check
    assert "no working provider" in capsys.readouterr().out


def test_debug_adds_the_traceback(
    aiengine_emulator: AIEngineEmulator, site_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aiengine_emulator.fault = Fault.http_status(400)  # not retried: fails at once
    args = ["--config", str(site_config), "chat", "-p", "Opchatgpts", "hi"]
    assert main(["--debug", *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("g4f-lite: error: Opchatgpts: ")


def test_configuration_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "missing.toml"), "providers"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["chat", "-p", "A", "-p", "B", "--base-url", "http://127.0.0.1:9", "hi"]) == 1
    assert "--base-url needs exactly one --provider" in capsys.readouterr().err


def test_serve_answers_the_openai_sdk_and_stops_on_sigint(site_config: Path) -> None:
    exe = shutil.which("g4f-lite", path=os.path.dirname(sys.executable)) or "g4f-lite"
    env = {**os.environ, "G4F_LITE_PLUGINS": "opchatgpts", "G4F_LITE_API_KEY": "k"}
    proc = subprocess.Popen(
        [exe, "--config", str(site_config), "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1) \(bearer key required\)", ready)
        assert match, ready
        with openai.OpenAI(base_url=match.group(1), api_key="k", max_retries=0) as api:
            completion = api.chat.completions.create(
                model="",
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"provider": "Opchatgpts"},
            )
        assert (
            completion.choices[0].message.content
            == "Hello from the AI Engine emulator! You said: hi"
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "server stopped" in err and "Traceback" not in err

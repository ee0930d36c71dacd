"""The g4f-lite command line, through its console-script entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from g4f_lite.cli import main
from g4f_lite.testing import AIEngineEmulator


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
    assert table[0].split()[:3] == ["name", "working", "stream"]
    assert table[1].split()[:3] == ["Opchatgpts", "-", "yes"]
    assert main(["providers", "--working"]) == 0
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
        main(["chat", "hi"])
    assert caught.value.code == 2
    assert "--provider" in capsys.readouterr().err

"""scripts/release.py: every distribution carries one version, or nothing is built."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the files that carry versions, with the script, in a temporary tree."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "g4f_lite").mkdir()
    shutil.copy(ROOT / "g4f_lite" / "__init__.py", tmp_path / "g4f_lite")
    for project in ROOT.glob("providers/*/pyproject.toml"):
        target = tmp_path / project.relative_to(ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(project, target)
    return tmp_path


def release(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(checkout / "scripts" / "release.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_this_checkout_is_in_lockstep() -> None:
    import g4f_lite

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == g4f_lite.__version__


def test_a_version_out_of_step_is_named_and_nothing_is_built(checkout: Path) -> None:
    gemini = checkout / "providers" / "gemini" / "pyproject.toml"
    gemini.write_text(gemini.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    for command in ("check", "build"):
        result = release(checkout, command)
        assert result.returncode == 1
        assert "not in lockstep" in result.stderr
        assert "providers/gemini/pyproject.toml: 0.1.1" in result.stderr
        assert "bump VERSION" in result.stderr
    assert not (checkout / "dist").exists()


def test_bump_sets_every_version_and_dependency(checkout: Path) -> None:
    result = release(checkout, "bump", "0.2.0")
    assert result.returncode == 0, result.stderr
    assert release(checkout, "check").stdout.strip() == "0.2.0"
    assert '__version__ = "0.2.0"' in (checkout / "g4f_lite" / "__init__.py").read_text()
    openai = (checkout / "providers" / "openai_compat" / "pyproject.toml").read_text()
    assert 'version = "0.2.0"' in openai
    assert '"g4f-lite>=0.2,<0.3"' in openai


def test_bump_refuses_what_is_not_a_version(checkout: Path) -> None:
    result = release(checkout, "bump", "next")
    assert result.returncode == 1
    assert "not a version" in result.stderr
    assert release(checkout, "check").stdout.strip() == "0.1.0"

"""``g4f-lite new-provider``: the distribution it writes installs, passes its own tests and
is listed by ``g4f-lite providers``, with no edits and no network."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from g4f_lite import scaffold
from g4f_lite.cli import main
from g4f_lite.errors import ConfigurationError

# A fresh venv, a pip install and two pytest runs on a loaded 2-core machine.
_SUBPROCESS_TIMEOUT = 600


@pytest.mark.parametrize(
    ("given", "dist", "package", "cls", "env"),
    [
        ("acme", "g4f-lite-acme", "g4f_lite_acme", "Acme", "ACME_API_KEY"),
        ("My-Site", "g4f-lite-my-site", "g4f_lite_my_site", "MySite", "MY_SITE_API_KEY"),
        ("chat_hub2", "g4f-lite-chat-hub2", "g4f_lite_chat_hub2", "ChatHub2", "CHAT_HUB2_API_KEY"),
        ("g4f-lite-acme", "g4f-lite-acme", "g4f_lite_acme", "Acme", "ACME_API_KEY"),
    ],
)
def test_names_are_spelled_for_each_use(
    given: str, dist: str, package: str, cls: str, env: str
) -> None:
    names = scaffold.names_for(given)
    assert (names.dist, names.package, names.cls, names.env) == (dist, package, cls, env)


@pytest.mark.parametrize(
    "name", ["", "2fast", "my site", "acme!", "-acme", "acme-", "über", "openai"]
)
def test_names_that_cannot_be_a_package_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="provider name"):
        scaffold.names_for(name)


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="sse, openai"):
        scaffold.run("acme", "grpc", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    scaffold.run("acme", "sse", tmp_path)
    module = tmp_path / "g4f-lite-acme" / "g4f_lite_acme" / "__init__.py"
    module.write_text("# my edits\n")
    with pytest.raises(ConfigurationError, match="already exists"):
        scaffold.run("acme", "openai", tmp_path)
    assert module.read_text() == "# my edits\n"


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_every_placeholder_is_filled(kind: str) -> None:
    files = scaffold.render(scaffold.names_for("acme"), kind)
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        "g4f_lite_acme/__init__.py",
        "g4f_lite_acme/py.typed",
        "g4f_lite_acme/emulator.py",
        "tests/test_acme.py",
        # The provider runs the conformance kit against its emulator.
        "tests/test_acme_conformance.py",
    }
    for path, text in files.items():
        assert "{{" not in text, path
        if path.endswith(".py"):
            compile(text, path, "exec")  # valid Python, whatever the name
    assert '[project.entry-points.g4f_lite]\nacme = "g4f_lite_acme"' in files["pyproject.toml"]


def test_the_command_writes_the_distribution_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-provider", "Acme", "--kind", "openai", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "g4f-lite-acme"
    assert f"wrote {target}" in out
    assert "pytest" in out
    assert "api_key" in (target / "g4f_lite_acme" / "__init__.py").read_text()


def test_the_command_reports_a_bad_name_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-provider", "my site", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("g4f-lite: error: provider name 'my site'")
    assert len(err.strip().splitlines()) == 1


# -- the round trip ------------------------------------------------------------------


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=_SUBPROCESS_TIMEOUT
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass
class Workspace:
    """A virtual environment with the generated distributions installed (editable)."""

    root: Path
    python: str
    env: dict[str, str]
    #: The generated distribution of each kind.
    names: dict[str, scaffold.Names]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One virtual environment with one generated distribution of each kind installed."""
    root = tmp_path_factory.mktemp("scaffold")
    env_dir = root / "venv"
    # --system-site-packages alone would reach the base interpreter's packages,
    # not this (virtual) environment's: a .pth file adds ours, after its own,
    # so that g4f-lite, pytest and setuptools come from here.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [*site.getsitepackages(), site.getusersitepackages()]
    lines = [f"import site; site.addsitedir({path!r})" for path in ours if os.path.isdir(path)]
    Path(own, "_g4f_lite_parent.pth").write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("G4F_LITE_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    names = {kind: scaffold.names_for(f"demo-{kind}") for kind in scaffold.KINDS}
    targets = [str(scaffold.run(n.name, kind, root)) for kind, n in names.items()]
    # Offline: no index, no build isolation, no dependencies to fetch.
    _run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q"),
            *("--no-index", "--no-build-isolation", "--no-deps"),
            *(arg for target in targets for arg in ("-e", target)),
        ],
        root,
        env,
    )
    return Workspace(root, str(python), env, names)


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_the_generated_tests_pass_with_no_edits(workspace: Workspace, kind: str) -> None:
    dist = workspace.names[kind].dist
    result = _run(
        [workspace.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", dist],
        workspace.root,
        workspace.env,
    )
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout


def test_g4f_lite_providers_lists_the_installed_providers(workspace: Workspace) -> None:
    def listing(*flags: str) -> dict[str, Any]:
        code = "import sys; from g4f_lite.cli import main; sys.exit(main(sys.argv[1:]))"
        result = _run(
            [workspace.python, "-c", code, "providers", "--json", *flags],
            workspace.root,
            workspace.env,
        )
        return {info["name"]: info for info in json.loads(result.stdout)}

    every = listing("--all")
    sse, openai = workspace.names["sse"], workspace.names["openai"]
    assert every[sse.cls]["plugin"] in (sse.dist, sse.module)
    assert every[openai.cls]["needs_auth"] is True
    # Usable now: a hosted site that needs no key; the other one waits for its key.
    available = listing()
    assert sse.cls in available
    assert openai.cls not in available


def test_the_generated_code_passes_the_linter(workspace: Workspace) -> None:
    for names in workspace.names.values():
        target = workspace.root / names.dist
        for command in (["check"], ["format", "--check"]):
            _run(
                [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
                target,
                workspace.env,
            )

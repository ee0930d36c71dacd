"""Build and version every distribution of this repository, in lockstep.

    python scripts/release.py check          # every version equal, or say which differ
    python scripts/release.py build          # wheels and sdists of all into dist/
    python scripts/release.py bump 0.2.0     # set the one version everywhere

The distributions are ``g4f-lite`` (the root) and each ``providers/*``. They
are released together with one version: the root ``pyproject.toml``'s, which
``g4f_lite.__version__`` and every provider's ``version`` repeat, and whose
minor series every provider's dependency on ``g4f-lite`` names. ``build``
refuses to build anything while one of them disagrees, so a release can never
mix versions; it builds offline (``python -m build --no-isolation``: the
build backend must be installed, as the test extra does).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
# `version = "..."` in a pyproject's [project] table (the only such line in ours).
_VERSION_LINE = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
_DUNDER = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
# A provider's dependency on the framework: the minor series it was built with.
_REQUIRES = re.compile(r'"g4f-lite>=([0-9.]+),<([0-9.]+)"')
_RELEASE = re.compile(r"\d+\.\d+\.\d+")


def distributions() -> list[Path]:
    """The directory of every distribution: the root first, then ``providers/*``."""
    return [ROOT, *sorted(p.parent for p in ROOT.glob("providers/*/pyproject.toml"))]


def _name(project: Path) -> str:
    match = re.search(r'^name = "([^"]+)"$', (project / "pyproject.toml").read_text(), re.M)
    if match is None:
        raise SystemExit(f"release: {project / 'pyproject.toml'} has no name")
    return match.group(1)


def _series(version: str) -> tuple[str, str]:
    """The ``>=`` and ``<`` bounds of ``version``'s minor series (0.1.3 -> 0.1, 0.2)."""
    major, minor = version.split(".")[:2]
    return f"{major}.{minor}", f"{major}.{int(minor) + 1}"


def versions() -> dict[str, str]:
    """Every place a version is written (relative path -> what it says)."""
    found: dict[str, str] = {}
    for project in distributions():
        path = project / "pyproject.toml"
        match = _VERSION_LINE.search(path.read_text())
        found[str(path.relative_to(ROOT))] = match.group(1) if match else "(none)"
    match = _DUNDER.search((ROOT / "g4f_lite" / "__init__.py").read_text())
    found["g4f_lite/__init__.py"] = match.group(1) if match else "(none)"
    return found


def check() -> str:
    """The one version of every distribution; exits with the list when they differ."""
    found = versions()
    version = found["pyproject.toml"]
    problems = [f"  {path}: {value}" for path, value in found.items() if value != version]
    series = ">={},<{}".format(*_series(version)) if _RELEASE.fullmatch(version) else None
    for project in distributions()[1:]:
        path = project / "pyproject.toml"
        match = _REQUIRES.search(path.read_text())
        needs = f">={match.group(1)},<{match.group(2)}" if match else "(none)"
        if needs != series:
            problems.append(f"  {path.relative_to(ROOT)}: depends on g4f-lite{needs}")
    if problems:
        raise SystemExit(
            f"release: versions are not in lockstep with pyproject.toml's {version} "
            f"(g4f-lite{series}):\n"
            + "\n".join(problems)
            + "\nfix: scripts/release.py bump VERSION"
        )
    return version


def bump(version: str) -> None:
    """Write ``version`` everywhere :func:`check` looks."""
    if not _RELEASE.fullmatch(version):
        raise SystemExit(f"release: {version!r} is not a version like 1.2.3")
    low, high = _series(version)
    for project in distributions():
        path = project / "pyproject.toml"
        text = _VERSION_LINE.sub(f'version = "{version}"', path.read_text(), count=1)
        if project != ROOT:
            text = _REQUIRES.sub(f'"g4f-lite>={low},<{high}"', text)
        path.write_text(text)
    init = ROOT / "g4f_lite" / "__init__.py"
    init.write_text(_DUNDER.sub(f'__version__ = "{version}"', init.read_text(), count=1))
    check()


def build(outdir: Path = DIST) -> list[Path]:
    """Build a wheel and an sdist of every distribution into ``outdir`` (emptied first)."""
    version = check()
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    for project in distributions():
        print(f"release: building {_name(project)} {version}", flush=True)
        # The wheel is built from the sdist (build's default): a file missing
        # from the sdist is then missing from the wheel too, and noticed.
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "-o", str(outdir), str(project)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            # Only now: a successful build's output is setuptools' deprecation chatter.
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"release: building {_name(project)} failed")
    built = sorted(outdir.iterdir())
    for project in distributions():
        stem = _name(project).replace("-", "_")
        mine = [p.name for p in built if p.name.startswith(f"{stem}-{version}")]
        if len(mine) != 2:
            raise SystemExit(f"release: expected a wheel and an sdist of {stem} {version}: {mine}")
    return built


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="scripts/release.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="every version equal (exit 1 listing those that are not)")
    builder = commands.add_parser("build", help="wheels and sdists of every distribution")
    builder.add_argument("--outdir", type=Path, default=DIST, help="default: dist/")
    bumper = commands.add_parser("bump", help="set the version of every distribution")
    bumper.add_argument("version")
    args = parser.parse_args(argv)
    if args.command == "check":
        print(check())
    elif args.command == "bump":
        bump(args.version)
        print(f"release: every distribution is now {args.version}")
    else:
        for path in build(args.outdir):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

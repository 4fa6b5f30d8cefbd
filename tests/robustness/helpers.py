"""Running `flywheel` in-process and checking what it printed and what it left on disk."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from vla_flywheel.cli import main

UNSEEN_TASK = "grab the crimson cube and drop it onto the violet pad"  # words no instruction template uses


def flywheel(capsys, *args) -> tuple[int, str]:
    """Run `flywheel ARGS` in this process, as the console script would: -> (exit status, stderr)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


def one_line(stderr: str, *words: str) -> str:
    """The error is exactly one line, no traceback, and holds every word given (what, where, how to fix)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in: {lines[0]}"
    return lines[0]


def digest(*roots: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under the roots (symlinks by target name): a byte-exact snapshot."""
    out = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            key = str(path.relative_to(Path(root).parent))
            if path.is_symlink():
                out[key] = "-> " + str(path.readlink())
            elif path.is_file():
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst

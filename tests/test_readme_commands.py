"""The README is the front door: every concrete `lpdev …` command in its shell blocks must be a valid invocation
of today's CLI (synopsis lines with [optional] | alternatives | <placeholders> are documentation, not commands)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from lpdev.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    out = []
    fenced = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, flags=re.S)
    indented = [m for m in re.findall(r"(?m)^    (lpdev .*)$", text)]  # 4-space code blocks
    for block in fenced + indented:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("lpdev ") and not re.search(r"[\[\]|<>…]|\bURL\b|\bFILE\b|\bADDR\b|\bNAME\b", line):
                out.append(line)
    return out


def test_readme_shows_the_two_setup_commands_first():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1]
    first_block = re.search(r"```sh\n(.*?)```", quick, flags=re.S).group(1)
    assert [ln.split("#")[0].strip() for ln in first_block.splitlines()][:2] == ["make up", "make test"]


def test_readme_has_concrete_commands():
    assert len(_commands()) >= 5


@pytest.mark.parametrize("line", _commands())
def test_readme_command_parses(line):
    argv = shlex.split(line)[1:]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    assert getattr(args, "func", None) is not None, f"{line!r} names no command"
    assert not extra or getattr(args, "accepts_extra_args", False), f"{line!r}: unknown arguments {extra}"

"""The `lpdev` command line.

Every module in ``lpdev/commands/`` that defines ``register(subparsers)`` adds its own sub-command, so a
new command is one new file. A command handler receives the parsed ``argparse.Namespace`` and returns the
process exit code (0 ok, 1 failure, 2 bad input). A :class:`UsageError` or a
:class:`sim.wire.bounded.BoundedInputError` (a file or value refused by the bounded parser) is printed as one line
with exit code 2.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pkgutil
import re
import sys

from lpdev import commands as _commands_pkg
from sim.wire import bounded
from sim.wire.bounded import BoundedInputError

SECONDS = bounded.argtype(bounded.parse_float, min=0.001, max=86400.0)  # a finite, positive duration flag


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lpdev",
        description=(
            "Local development simulator and devtool for Livepeer's remote-signer PM payments: "
            "a chain with the PM contracts, a remote signer, a fake orchestrator, a scripted gateway, "
            "scenarios and a TUI. All keys lpdev prints are throwaway dev keys."
        ),
        epilog="How the protocol works (remote signing, tickets, nonces, EV, 480/481/482, Live Runners, redemption): "
               "docs/README.md in the lpdev repository. New here? Try `lpdev walkthrough`.",
    )
    parser.add_argument("--version", action="version", version=f"lpdev {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_commands_pkg.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def command_list() -> list[tuple[str, str, str]]:
    """(name, one-line help, full --help text) of every sub-command, for front ends that list them (the TUI's
    command palette: the TUI does not import the CLI, the CLI hands it this list)."""
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {c.dest: (c.help or "") for c in sub._choices_actions}
        return [(name, helps.get(name, ""), sub.choices[name].format_help()) for name in sorted(sub.choices)]
    except Exception:  # noqa: BLE001 - a palette must open even if a command module is broken
        return []
def version() -> str:
    """The installed lpdev's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("lpdev")
    except PackageNotFoundError:
        return "(not installed: run `make bootstrap`)"


# A go-livepeer flag: one dash, camelCase (``-ethUrl``, ``-ticketEV``), optionally ``=value``.
_GO_FLAG = re.compile(r"^-{1,2}(?P<name>[A-Za-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*|[A-Za-z]{2,}[A-Za-z0-9]*)(?:=.*)?$")
# go-livepeer flags whose lpdev name is not just the kebab-case of theirs.
_GO_ALIASES = {"ethController": "--controller", "orchAddr": "--orch-addr", "serviceAddr": "--service-addr"}


def _kebab(name: str) -> str:
    """``ethUrl`` -> ``eth-url``, ``ticketEV`` -> ``ticket-ev``, ``maxTicketEV`` -> ``max-ticket-ev``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _subparsers(p: argparse.ArgumentParser) -> dict:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}


def _options(p: argparse.ArgumentParser, deep: bool = False) -> set[str]:
    opts = {s for a in p._actions for s in a.option_strings}
    if deep:
        for child in _subparsers(p).values():
            opts |= _options(child, deep=True)
    return opts


def misspelt_flag(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """One line for a go-livepeer style flag (``-ethUrl``, ``-httpAddr=…``) or an unknown ``--camelCase`` one,
    naming the lpdev flag it probably means, or None. Checked before argparse, which would read ``-httpAddr`` as
    ``-h ttpAddr`` and answer ``-ethUrl`` with the top-level usage."""
    p, path, i = parser, ["lpdev"], 0
    while i < len(argv) and argv[i] in _subparsers(p):
        p, path, i = _subparsers(p)[argv[i]], path + [argv[i]], i + 1
    if path[:2] == ["lpdev", "bench"] and len(path) == 3 and path[2] != "all":
        return None  # a benchmark parses its own options (and says so)
    known = _options(p)
    for tok in argv[i:]:
        if tok == "--":
            break
        m = _GO_FLAG.match(tok)
        if m is None or tok.split("=", 1)[0] in known:
            continue
        name = m.group("name")
        pool = known if len(path) > 1 else _options(parser, deep=True)
        guess = _GO_ALIASES.get(name) or "--" + _kebab(name)
        if guess not in pool:
            close = difflib.get_close_matches(guess, sorted(o for o in pool if o.startswith("--")), n=1, cutoff=0.75)
            guess = close[0] if close else None
        where = " ".join(path)
        style = "" if tok.startswith("--") else " (go-livepeer style; lpdev flags are --kebab-case)"
        hint = f"did you mean {guess}?" if guess else f"see `{where} --help`"
        if len(path) == 1 and guess:
            hint = f"did you mean {guess} (an option of a sub-command, e.g. `lpdev signer {guess} …`)?"
        return f"{where}: error: {tok.split('=', 1)[0]} is not an option{style}; {hint}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    bad = misspelt_flag(parser, argv)
    if bad is not None:
        print(bad, file=sys.stderr)
        return 2
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "accepts_extra_args", False):
        args.extra_args = extra  # e.g. `lpdev bench NAME ...`: the benchmark parses its own options
    elif extra:
        args = parser.parse_args(argv)  # argparse's own "unrecognized arguments" error, exit 2
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except (UsageError, BoundedInputError) as exc:  # bad input (a file, a flag, a body): one line, exit 2
        print(f"lpdev: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`lpdev ... | head -1`): stop quietly like other Unix tools, exit 128 + SIGPIPE.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

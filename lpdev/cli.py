"""The `lpdev` command line.

Every module in ``lpdev/commands/`` that defines ``register(subparsers)`` adds its own sub-command, so a
new command is one new file. A command handler receives the parsed ``argparse.Namespace`` and returns the
process exit code (0 ok, 1 failure, 2 bad input). A :class:`UsageError` or a
:class:`sim.wire.bounded.BoundedInputError` (a file or value refused by the bounded parser) is printed as one line
with exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from lpdev import commands as _commands_pkg
from sim.wire.bounded import BoundedInputError


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
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_commands_pkg.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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

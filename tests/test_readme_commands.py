"""The README's commands are all exercised by tests (issue 7, "Done when").

Every command line in the README's code blocks (fenced sh/console/plain blocks and 4-space indented blocks; Python
snippets are not commands) is one of:

- a **synopsis** (placeholders: ``[optional]``, ``a|b``, ``<arg>``, ``(x | y)``, UPPERCASE words such as ``URL``,
  ``N``): each sub-command it names must exist, its ``--help`` must run, and every ``--flag`` it shows must be one
  of that sub-command's options (with the ``a|b`` values among the flag's choices);
- a **concrete command**, listed in :data:`EXERCISED`: either ``here:<test>``, a test in this file that runs the
  README line itself (as a subprocess in a temp dir, adding only flags that keep it off fixed ports and the
  terminal: ``--any-port``, ``--exit-after-ready``, ``--http-addr 127.0.0.1:0``, ...), or ``tests/x.py::test_y``,
  the test that does what the line does.

The "## Commands" table's spans (``lpdev chain up|info|...``) are checked like synopses, and must list every
top-level command.

A concrete README command in neither place fails :func:`test_every_readme_command_is_exercised`; so does an entry
of :data:`EXERCISED` that is no longer in the README, or that names a test that does not exist.
"""
from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import re
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from lpdev.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROGRAMS = ("lpdev", "python", "make")

# Concrete README command -> the test that exercises it.
EXERCISED = {
    "make up": "tests/test_up_cli.py::test_make_up_runs_lpdev_up",
    "make test": "here:test_make_test_bootstraps_then_runs_the_suite",
    "lpdev up --headless": "tests/test_up_cli.py::test_up_ready_file_payments_and_clean_stop",
    # the TUI needs a terminal: the same app on the same stack, driven by Textual's pilot
    "lpdev up": "tests/test_up_stack.py::test_tui_live_mode_follows_the_up_stack",
    "lpdev up --chain embedded": "here:test_up_embedded",
    "lpdev up --headless --scenario refresh-params-expired":
        "tests/test_up_scenario.py::test_up_scenario_on_anvil_with_the_sdk_paying_meanwhile",
    "lpdev up --orchestrators 2 --signers 2 --remote-discovery --seed 7 --config-out stack.json":
        "here:test_up_two_by_two_with_discovery_then_token",
    # `make up ARGS="--headless --any-port --no-gateway --exit-after-ready ..."`
    "lpdev up --no-gateway --any-port": "tests/test_up_cli.py::test_make_up_runs_lpdev_up",
    "lpdev up --headless --serve-events 127.0.0.1:0": "tests/test_up_cli.py::test_up_ready_file_payments_and_clean_stop",
    "lpdev token": "here:test_up_two_by_two_with_discovery_then_token",
    "lpdev ps": "tests/test_up_stacks.py::test_two_stacks_in_one_folder_each_found_from_another_folder",
    "lpdev chain info": "tests/test_up_stacks.py::test_chain_and_conformance_find_the_running_stack_from_any_folder",
    "lpdev conformance": "tests/test_up_stacks.py::test_chain_and_conformance_find_the_running_stack_from_any_folder",
    # no network here: the same command against a local chain that plays Arbitrum One
    "lpdev up --fork-url https://arb1.arbitrum.io/rpc --fork-block 300000000":
        "tests/test_up_fork.py::test_up_fork_cli_banner_and_errors",
    "lpdev up --runner echo --runner text:0.01/fixed":
        "tests/test_up_cli.py::test_up_with_dev_runners_prints_them",
    "lpdev bench up": "tests/test_up_bench.py::test_bench_up_measures_ready_time_and_memory",
    # the SDK's own examples (unpacked into .sdk/ by `make`), run exactly as printed against `lpdev up --headless`
    "python .sdk/livepeer_gateway-1.0.0/examples/get_orchestrator_info.py 127.0.0.1:8935 --signer 127.0.0.1:7936":
        "here:test_readme_sdk_examples_run_verbatim",
    'python .sdk/livepeer_gateway-1.0.0/examples/get_orchestrator_info.py --token "$(lpdev token)"':
        "here:test_readme_sdk_examples_run_verbatim",
    "python .sdk/livepeer_gateway-1.0.0/examples/write_frames.py 127.0.0.1:8935 --signer 127.0.0.1:7936 --count 30":
        "here:test_readme_sdk_examples_run_verbatim",
    "lpdev signer --mock-chain": "here:test_signer_mock_chain",
    "lpdev signer --list-profiles": "tests/test_signer_profiles.py::test_cli_node_listens_where_told_and_warns",
    "lpdev orchestrator --config .lpdev/chain.json": "here:test_orchestrator_on_the_chain_up_config",
    "lpdev walkthrough": "here:test_walkthrough_tour",
    "lpdev walkthrough refresh-params-expired": "here:test_walkthrough_library_scenario",
    "lpdev scenario run runner-expires-mid-session":
        "tests/test_scenario_runner_steps.py::test_readme_runner_scenario_command",
    "lpdev economics check --preset up": "tests/test_economics.py::test_lpdev_up_defaults_are_healthy",
    "lpdev economics check --preset go-livepeer-4077":
        "tests/test_economics.py::test_go_livepeer_4077_reports_the_stop_and_the_fix",
    "lpdev economics check --preset go-livepeer-4077 --ticket-ev 2.7e11":
        "tests/test_economics.py::test_go_livepeer_4077_reports_the_stop_and_the_fix",
    "lpdev economics sweep --preset go-livepeer-4077 --grid ticket_ev=1e11:1e13:8:log --grid "
    "price_per_unit=2e10:1e11:6:log --runs 100 --out sweep": "tests/test_economics.py::test_readme_sweep_commands",
    "lpdev economics sweep --preset go-livepeer-4077 --grid ticket_ev=1e11:1e13:8:log --ray local --out sweep":
        "tests/test_economics.py::test_readme_sweep_commands",
    "lpdev economics fleet --gateways 500 --orchestrators 50 --days 5 --out fleet":
        "tests/test_economics_fleet.py::test_readme_fleet_commands_and_processes_equal_ray",
    "lpdev economics fleet --gateways 500 --orchestrators 50 --days 5 --out fleet --ray local":
        "tests/test_economics_fleet.py::test_readme_fleet_commands_and_processes_equal_ray",
    "lpdev economics fleet --preset go-livepeer-4077 --mix ticket_ev=1e13,2.7e11 --loss 0.005 --gateways 200 --days 2":
        "tests/test_economics_fleet.py::test_readme_fleet_commands_and_processes_equal_ray",
    # Live Runners: the orchestrator line runs here; the SDK's example scripts (from the sdist `make bootstrap`
    # unpacks) run unmodified in tests/test_runner_sdk_examples.py, on an in-process chain, signer and orchestrator
    "lpdev chain up --block-time 1 --auto-round": "here:test_orchestrator_with_live_runners",
    "lpdev orchestrator --config .lpdev/chain.json --http-port 8936 --orch-secret abcdef --runner noop "
    "--live-runner-config examples/text/runners.json": "here:test_orchestrator_with_live_runners",
    "python echo/runner.py --orchestrator http://127.0.0.1:8936 --orchSecret abcdef":
        "tests/test_runner_sdk_examples.py::test_echo_runner_and_client_unmodified",
    "python echo/client.py --discovery http://127.0.0.1:8936/discovery in.ts":
        "tests/test_runner_sdk_examples.py::test_echo_runner_and_client_unmodified",
    "python ping-pong/runner.py --orchestrator http://127.0.0.1:8936 --orchSecret abcdef":
        "tests/test_runner_sdk_examples.py::test_ping_pong_websocket_through_the_plain_http_entry",
    "python ping-pong/client.py --discovery http://127.0.0.1:8936/discovery --count 5":
        "tests/test_runner_sdk_examples.py::test_ping_pong_websocket_through_the_plain_http_entry",
}


# ---------------------------------------------------------------------- README parsing
@dataclass(frozen=True)
class Cmd:
    text: str  # one logical command: continuation lines joined, trailing comment removed
    line: int  # README line number

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def _strip_comment(line: str) -> str:
    return re.split(r"\s{2,}#(?:\s|$)", line, maxsplit=1)[0].rstrip()


def _code_blocks(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """(language, [(line number, line)]) for fenced blocks and 4-space indented blocks."""
    blocks: list[tuple[str, list[tuple[int, str]]]] = []
    lines = text.splitlines()
    fence = None
    cur: list[tuple[int, str]] = []
    prev_blank = True
    indented: list[tuple[int, str]] = []
    for no, line in enumerate(lines, 1):
        if fence is not None:
            if line.startswith("```"):
                blocks.append((fence, cur))
                fence = None
            else:
                cur.append((no, line))
            continue
        if line.startswith("```"):
            if indented:
                blocks.append(("indented", indented))
                indented = []
            fence, cur = line[3:].strip(), []
            continue
        if line.startswith("    ") and (indented or prev_blank):
            indented.append((no, line))
        elif line.strip() and indented:
            blocks.append(("indented", indented))
            indented = []
        prev_blank = not line.strip()
    if indented:
        blocks.append(("indented", indented))
    return blocks


def readme_commands() -> list[Cmd]:
    out: list[Cmd] = []
    for lang, lines in _code_blocks(README.read_text(encoding="utf-8")):
        if lang not in ("", "sh", "bash", "console", "shell", "indented"):
            continue  # python snippets are code, not commands
        start = indent = None
        parts: list[str] = []
        for no, raw in lines + [(0, "")]:
            body = _strip_comment(raw)
            ind = len(raw) - len(raw.lstrip())
            is_cmd = body.strip().split(" ", 1)[0] in PROGRAMS
            if start is not None and body.strip() and not is_cmd and ind > indent:
                parts.append(body.strip())  # a continuation line of a long synopsis
                continue
            if start is not None:
                out.append(Cmd(" ".join(parts), start))
                start = None
            if is_cmd:
                start, indent, parts = no, ind, [body.strip()]
    return out


def _tokens(text: str) -> list[str]:
    return shlex.split(text)


def is_synopsis(text: str) -> bool:
    for tok in _tokens(text):
        if tok.startswith("$("):
            continue  # shell command substitution, not a placeholder
        if re.search(r"[\[\]|<>()]", tok) or any(re.fullmatch(r"[A-Z][A-Z0-9_]*", w)
                                                  for w in re.split(r"[^A-Za-z0-9_]+", tok) if w):
            return True
    return False


COMMANDS = readme_commands()
SYNOPSES = [c for c in COMMANDS if c.text.startswith("lpdev ") and is_synopsis(c.text)]
CONCRETE = [c for c in COMMANDS if c not in SYNOPSES]


def readme_line(text: str) -> list[str]:
    """argv of a concrete README command (the test fails if the README no longer shows it)."""
    assert text in {c.text for c in CONCRETE}, f"{text!r} is not a concrete command in the README any more"
    argv = _tokens(text)
    assert argv[0] == "lpdev"
    return [sys.executable, "-m", "lpdev", *argv[1:]]


def test_readme_shows_the_two_setup_commands_first():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1]
    first_block = re.search(r"```sh\n(.*?)```", quick, flags=re.S).group(1)
    assert [ln.split("#")[0].strip() for ln in first_block.splitlines()][:2] == ["make up", "make test"]


def test_the_parser_finds_the_readme_commands():
    texts = {c.text for c in COMMANDS}
    assert len(SYNOPSES) >= 15 and len(CONCRETE) >= 15
    assert "lpdev up --headless" in texts and "make test" in texts and not any("#" in t for t in texts)
    # a synopsis continued on the next lines is one command, with all of its flags
    signer = next(c.text for c in SYNOPSES if c.text.startswith("lpdev signer --eth-url"))
    assert "--remote-discovery" in signer and "--trace FILE" in signer
    assert is_synopsis("lpdev chain mine N | advance-round") and is_synopsis("lpdev tui --attach http://HOST:PORT")
    assert not is_synopsis('python examples/get_orchestrator_info.py --token "$(lpdev token)"')


# ---------------------------------------------------------------------- every command is exercised
def _test_source(target: str) -> tuple[str, str]:
    """(function source, module source) of ``tests/x.py::test_y`` or ``here:test_y``."""
    path, name = (Path(__file__), target[5:]) if target.startswith("here:") else (
        ROOT / target.split("::")[0], target.split("::")[1])
    assert path.exists(), f"{target}: no such file"
    module = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(module)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.get_source_segment(module, node), module
    raise AssertionError(f"{target}: no test function {name}")


def test_every_readme_command_is_exercised():
    missing = [str(c) for c in CONCRETE if c.text not in EXERCISED]
    assert not missing, ("README commands that no test exercises (run them in a test here, or map them in "
                         "EXERCISED to the test that does what they do):\n" + "\n".join(missing))
    stale = sorted(set(EXERCISED) - {c.text for c in CONCRETE})
    assert not stale, f"EXERCISED lists commands the README no longer shows: {stale}"
    for text, target in EXERCISED.items():
        func, module = _test_source(target)
        if target.startswith("here:"):
            assert repr(text) in func or json.dumps(text) in func, f"{target} does not run {text!r}"
        elif text.startswith("lpdev "):
            code = _without_comments(module)  # a flag named only in a comment does not count
            for flag in [t for t in _tokens(text) if t.startswith("--")]:
                assert flag in code, f"{target} never uses {flag} of {text!r}"


def _without_comments(source: str) -> str:
    import tokenize

    toks = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(tok.string for tok in toks if tok.type != tokenize.COMMENT)


# ---------------------------------------------------------------------- synopsis lines: sub-commands and flags
def _subparsers(p) -> dict:
    import argparse

    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}


def _named_commands(text: str) -> list[tuple[list[str], object]]:
    """[(path, parser)] of every sub-command a synopsis names: ``chain mine N | advance-round`` names
    ``chain mine`` and ``chain advance-round`` (an alternative follows a lone ``|``)."""
    toks = _tokens(text)[1:]
    parser, parent, path, i = build_parser(), None, [], 0
    while i < len(toks) and toks[i] in _subparsers(parser):
        parent, parser, path = parser, _subparsers(parser)[toks[i]], path + [toks[i]]
        i += 1
    if i < len(toks) and "|" in toks[i] and toks[i].split("|")[0] in _subparsers(parser):
        # `chain up|info|fund` (the Commands table): every alternative is a sub-command
        subs = _subparsers(parser)
        return [(path + [w], subs.get(w)) for w in toks[i].split("|")]
    named = [(path, parser)]
    if parent is not None:
        for prev, tok in zip(toks[i:], toks[i + 1:]):
            if prev != "|" or tok.lstrip("[(").startswith("-"):
                continue  # not an alternative, or an alternative flag (`--role sender | --key HEX`)
            if tok in _subparsers(parent):
                named.append((path[:-1] + [tok], _subparsers(parent)[tok]))
            else:
                named.append((path[:-1] + [tok], None))  # an alternative that is not a sub-command
    return named


def synopsis_problems(text: str) -> list[str]:
    """What is wrong with a synopsis line: sub-commands that do not exist, --help that fails, flags the
    sub-command does not take, ``--flag a|b`` values outside its choices. [] when all is well."""
    problems = []
    toks = _tokens(text)
    for path, parser in _named_commands(text):
        if not path or parser is None:
            problems.append(f"names no lpdev sub-command ({' '.join(path) or text})")
            continue
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
                code = main([*path, "--help"])
        except SystemExit as exc:
            code = exc.code
        out = buf.getvalue()
        if code != 0 or not out.startswith(f"usage: lpdev {' '.join(path)}"):
            problems.append(f"`lpdev {' '.join(path)} --help` failed (exit {code}): {out[:120]!r}")
            continue
        options = {s: a for a in parser._actions for s in a.option_strings}
        for j, tok in enumerate(toks):
            flag = tok.strip("[]()")
            if not flag.startswith("--"):
                continue
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", out):
                problems.append(f"`lpdev {' '.join(path)}` has no option {flag}")
                continue
            action = options.get(flag)
            if action is not None and action.choices and j + 1 < len(toks):
                shown = {v for v in toks[j + 1].strip("[]()").split("|") if v and not v.isupper()}
                if not shown <= set(map(str, action.choices)):
                    problems.append(f"{flag} {sorted(shown)} not among its choices {list(action.choices)}")
    return problems


@pytest.mark.parametrize("cmd", SYNOPSES, ids=lambda c: f"line{c.line}")
def test_synopsis_names_real_commands_and_flags(cmd):
    assert synopsis_problems(cmd.text) == [], str(cmd)


def commands_table() -> list[str]:
    """The `lpdev …` spans of the README's "## Commands" table (``a\\|b``: alternatives)."""
    section = README.read_text(encoding="utf-8").split("\n## Commands\n", 1)[1].split("\n#", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `lpdev")]
    return [span.replace("\\|", "|") for row in rows for span in re.findall(r"`(lpdev [^`]*)`", row.split(" | ")[0])]


def test_commands_table_names_every_command_and_only_real_ones():
    table = commands_table()
    problems = {text: synopsis_problems(text) for text in table}
    assert not {k: v for k, v in problems.items() if v}
    named = {path[0] for text in table for path, _ in _named_commands(text)}
    assert named == set(_subparsers(build_parser())), "the Commands table must list every lpdev command"
    chain = next(t for t in table if t.startswith("lpdev chain "))
    assert len(_named_commands(chain)) >= 8  # up|info|fund|...: each alternative is checked


def test_synopsis_check_catches_what_is_wrong():
    mine = next(c.text for c in SYNOPSES if c.text.startswith("lpdev chain mine"))
    assert [p for p, _ in _named_commands(mine)] == [["chain", x] for x in (
        "mine", "advance-round", "unlock", "cancel-unlock", "withdraw", "withdraw-fees")]
    assert [p for p, _ in _named_commands("lpdev decode payment  <base64|->  [--json]")] == [["decode", "payment"]]
    assert synopsis_problems("lpdev chain mine N | advance-round") == []
    assert synopsis_problems("lpdev chain mine N | mint")  # not a sub-command
    assert synopsis_problems("lpdev chian info [--json]")  # not a command
    assert synopsis_problems("lpdev chain info [--senderr ADDR]")  # not an option
    assert synopsis_problems("lpdev chain up [--backend anvil|ganache]")  # not a choice
    assert synopsis_problems("lpdev bench scenario [--payment 1000]")  # a benchmark's own options count too
    assert synopsis_problems("lpdev bench scenario [--payments 1000]") == []
    assert synopsis_problems("lpdev decode payment|segcreds") == []
    assert synopsis_problems("lpdev decode payment|segcred")  # one alternative is not a sub-command


# ---------------------------------------------------------------------- concrete lines, run here
def env() -> dict:
    """The environment of a README command: this one (read when the command starts, after conftest.py has pointed
    LPDEV_STATE_DIR at the session's private stack registry) with lpdev importable."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Proc:
    """A README command running in the background; its output (stdout + stderr) collected line by line."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env(), start_new_session=True, stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=lambda: [self.lines.append(x.rstrip("\n")) for x in self.proc.stdout],
                                        daemon=True)
        self._reader.start()

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never printed (exit {self.proc.poll()}):\n{self.text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        finally:
            self.kill()
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _get(url: str, data: bytes | None = None) -> dict:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=10, context=ssl._create_unverified_context()) as r:
        return json.loads(r.read())


def test_make_test_bootstraps_then_runs_the_suite():
    """`make test` runs verbatim in CI: `.ci/run` is that line on a clean clone, then fails if the clone is no longer
    clean. Inside the suite it cannot run itself again, so here its recipe is checked (`make -n`) and .ci/run is
    checked to be exactly that line plus the clean-clone check."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    argv = _tokens("make test")
    stamps = [".venv/.lpdev-installed", "devnet/tools/node_modules/.lpdev-installed"]
    r = subprocess.run([argv[0], "-n", "-B", *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # from nothing: a venv with lpdev, the npm tools, then the whole suite
    assert "-m venv .venv" in out and "npm ci" in out and "-m pytest" in out
    assert out.index("npm ci") < out.index("-m pytest") and all(s in out for s in stamps)
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in ci  # CI runs it, verbatim
    after = ci[ci.index("make test") + 1:]
    assert any("git status --porcelain" in ln for ln in after)  # ...and then checks the clone is still clean


DEFAULT_PORTS = {8545: "chain", 7936: "signer", 8935: "orchestrator", 9935: "orchestrator plain-HTTP entry"}


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.mark.anvil
@pytest.mark.sdk
def test_readme_sdk_examples_run_verbatim(tmp_path):
    """The README's SDK lines exactly as printed: a shell with `.venv/bin` first on PATH (what `source
    .venv/bin/activate` does), in the lpdev folder, against `lpdev up --headless` (the README's line) on the
    default ports. Only if something else holds those ports (a developer's own stack) does the stack take free
    ports, and then the lines get the stack's addresses swapped in, with a warning saying so."""
    import warnings

    lines = [
        "python .sdk/livepeer_gateway-1.0.0/examples/get_orchestrator_info.py 127.0.0.1:8935 --signer 127.0.0.1:7936",
        'python .sdk/livepeer_gateway-1.0.0/examples/get_orchestrator_info.py --token "$(lpdev token)"',
        "python .sdk/livepeer_gateway-1.0.0/examples/write_frames.py 127.0.0.1:8935 --signer 127.0.0.1:7936 --count 30",  # noqa: E501
    ]
    assert sorted(lines) == sorted(c.text for c in CONCRETE if c.text.startswith("python .sdk/"))
    busy = [f"{port} ({what})" for port, what in DEFAULT_PORTS.items() if _busy(port)]
    up = Proc(readme_line("lpdev up --headless") + (["--any-port"] if busy else []) + ["--config-out", "cast.json"],
              tmp_path)
    try:
        up.wait_for(r"stack ready in")
        doc = json.loads((tmp_path / "cast.json").read_text())
        swap = {}
        if busy:
            warnings.warn(f"ports {', '.join(busy)} are in use: the README's SDK lines ran on free ports")
            swap = {"127.0.0.1:8935": doc["orchestrators"][0]["url"].split("://")[1],
                    "127.0.0.1:7936": doc["signer_url"].split("://")[1]}
        else:
            assert doc["orchestrators"][0]["url"] == "https://127.0.0.1:8935"
            assert doc["signer_url"] == "https://127.0.0.1:7936"
        shell_env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "HOME": os.environ.get("HOME", str(tmp_path)), "LPDEV_STATE_DIR": os.environ["LPDEV_STATE_DIR"]}
        for line in lines:
            cmd = line
            for a, b in swap.items():
                cmd = cmd.replace(a, b)
            r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=shell_env, capture_output=True, text=True,
                               timeout=180)
            out = r.stdout + r.stderr
            assert r.returncode == 0 and "ERROR" not in out and "Traceback" not in out, (line, out[-3000:])
        # the examples really talked to this stack: write_frames' job started there, paid through the signer
        up.wait_for(r"live-video-to-video job \S+ \(noop\) started for", timeout=30)
        up.wait_for(r"credited .* manifest (?!gateway)", timeout=30)
        assert up.stop() == 0
    finally:
        up.kill()


@pytest.mark.anvil
def test_up_two_by_two_with_discovery_then_token(tmp_path):
    argv = readme_line("lpdev up --orchestrators 2 --signers 2 --remote-discovery --seed 7 --config-out stack.json")
    up = Proc(argv + ["--any-port"], tmp_path)  # free ports instead of 8545/7936/8935
    try:
        up.wait_for(r"stack ready in")
        doc = json.loads((tmp_path / "stack.json").read_text())
        assert json.loads((tmp_path / ".lpdev" / "stack.json").read_text()) == doc
        assert len(doc["orchestrators"]) == 2 and len(doc["signers"]) == 2 and doc["remote_discovery"]
        found = _get(doc["signer_url"] + "/discover-orchestrators")
        assert sorted(o["address"] for o in found) == sorted(o["url"] for o in doc["orchestrators"])
        # `lpdev token`, in the same directory: reads .lpdev/stack.json
        r = subprocess.run(readme_line("lpdev token"), cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=env())
        assert r.returncode == 0, r.stderr
        assert json.loads(base64.b64decode(r.stdout.strip())) == {
            "orchestrators": [o["url"] for o in doc["orchestrators"]], "signer": doc["signer_url"]}
        assert up.stop() in (0, 130)
        assert not (tmp_path / "stack.json").exists() and not (tmp_path / ".lpdev" / "stack.json").exists()
    finally:
        up.kill()


def test_up_embedded(tmp_path):
    argv = readme_line("lpdev up --chain embedded")
    r = subprocess.run(argv + ["--any-port", "--exit-after-ready"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=env())
    assert r.returncode == 0, r.stderr
    assert "stack ready in" in r.stdout and "(embedded chain, id " in r.stdout
    assert "no RPC URL for outside tools" in r.stdout and "PUBLIC THROWAWAY DEV KEYS" in r.stdout
    assert "Ctrl-C stops everything." in r.stdout and "anvil included" not in r.stdout  # no anvil in this stack


def test_signer_mock_chain(tmp_path):
    signer = Proc(readme_line("lpdev signer --mock-chain") + ["--http-addr", "127.0.0.1:0"], tmp_path)
    try:
        url = signer.wait_for(r"lpdev signer listening on (http://\S+)  address (0x[0-9a-fA-F]{40})")
        info = _get(url.group(1) + "/sign-orchestrator-info", b"{}")
        assert info["address"].lower() == url.group(2).lower()
        assert signer.stop() == 0
    finally:
        signer.kill()


@pytest.mark.anvil
def test_orchestrator_on_the_chain_up_config(tmp_path):
    # `lpdev chain up` (the synopsis with no options) writes .lpdev/chain.json, which the README line reads
    chain = Proc([sys.executable, "-m", "lpdev", "chain", "up"], tmp_path)
    orch = None
    try:
        chain.wait_for(r"Ctrl-C to stop")
        cfg = json.loads((tmp_path / ".lpdev" / "chain.json").read_text())
        key_addr = next(a["address"] for a in cfg["accounts"] if a["role"] == "orchestrator")
        orch = Proc(readme_line("lpdev orchestrator --config .lpdev/chain.json")
                    + ["--service-addr", "https://127.0.0.1:0", "--data-dir", str(tmp_path / "orch")], tmp_path)
        m = orch.wait_for(r"lpdev orchestrator (0x[0-9a-fA-F]{40}) \(throwaway dev key\) listening on (https://\S+)")
        assert m.group(1) == key_addr
        status = _get(m.group(2) + "/admin/status")
        assert json.dumps(status).lower().count(key_addr.lower()) >= 1
        assert orch.stop() == 0
        assert chain.stop() == 0
    finally:
        if orch is not None:
            orch.kill()
        chain.kill()


def test_orchestrator_with_live_runners(tmp_path):
    # the README's two lines, on free ports; a runners.json like the SDK text example's (label routing, /healthz)
    chain = Proc(readme_line("lpdev chain up --block-time 1 --auto-round"), tmp_path)
    orch = None
    (tmp_path / "examples" / "text").mkdir(parents=True)
    (tmp_path / "examples" / "text" / "runners.json").write_text(json.dumps({"runners": [
        {"label": "story-runner", "routing": "label", "app": "livepeer/read-story", "mode": "single-shot",
         "runner_url": "http://127.0.0.1:1", "health_url": "/healthz", "capacity": 10}]}))
    try:
        chain.wait_for(r"Ctrl-C to stop")
        line = "lpdev orchestrator --config .lpdev/chain.json --http-port 8936 --orch-secret abcdef --runner noop --live-runner-config examples/text/runners.json"  # noqa: E501
        orch = Proc(readme_line(line) + ["--http-port", "0", "--service-addr", "https://127.0.0.1:0", "--data-dir",
                                         str(tmp_path / "orch")], tmp_path)
        http_url = orch.wait_for(r"plain HTTP entry: (http://\S+)").group(1)
        orch.wait_for(r"runners register with --orchSecret abcdef")
        orch.wait_for(r"dev runner noop: lpdev/noop id runner_[a-z2-7]{8} \(persistent, capacity 4, free\)")
        with urllib.request.urlopen(http_url + "/discovery", timeout=10) as r:
            doc = json.load(r)
        assert [x["app"] for x in doc[0]["runners"]] == ["lpdev/noop"]  # story-runner: unhealthy, hidden
        assert orch.stop() == 0
        assert chain.stop() == 0
    finally:
        if orch is not None:
            orch.kill()
        chain.kill()


def _headless_app(monkeypatch, drive):
    """Make `app.run()` (what `lpdev walkthrough` calls) run headless, driven by ``drive(app, pilot)``."""
    from tui.app import LpdevApp

    orig = LpdevApp.run
    done: dict = {}

    def run(self, **_kw):
        async def pilot(p):
            try:
                await drive(p.app, p)
                done["ok"] = True
            finally:
                p.app.exit()

        return orig(self, headless=True, size=(160, 48), auto_pilot=pilot)

    monkeypatch.setattr(LpdevApp, "run", run)
    return done


async def _until(pilot, cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "the walkthrough did not finish"
        await pilot.pause(0.05)


async def _run_to_the_end(app, pilot) -> None:
    """What a newcomer does: read the first page, press space (run every step), read the last page."""
    assert app.mode == "walkthrough"
    await _until(pilot, lambda: app.lesson[0])  # the first page, waiting for a key
    first = app.lesson
    await pilot.press("space")

    def finished() -> bool:
        if getattr(app, "summary", None) is not None:  # a scenario run by the scenario runner
            return True
        steps = getattr(getattr(app, "script", None), "steps", None)
        return steps is not None and getattr(app, "step_index", None) == len(steps)  # a scripted tour

    await _until(pilot, finished, timeout=60)
    await pilot.pause()
    assert app.lesson != first and app.lesson[1].strip()
    if getattr(app, "summary", None) is not None:
        assert app.summary["passed"], app.summary


def test_walkthrough_tour(monkeypatch):
    done = _headless_app(monkeypatch, _run_to_the_end)
    assert main(_tokens("lpdev walkthrough")[1:]) == 0 and done.get("ok")


def test_walkthrough_library_scenario(monkeypatch):
    done = _headless_app(monkeypatch, _run_to_the_end)
    assert main(_tokens("lpdev walkthrough refresh-params-expired")[1:]) == 0 and done.get("ok")

"""`lpdev --version`, and go-livepeer style flags answered with the lpdev flag they mean (issue 16, item 7):
one line on stderr, exit 2, for every sub-command — not the top-level usage, and not argparse reading
``-httpAddr`` as ``-h ttpAddr``."""
from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from lpdev.cli import _kebab, main


def test_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == f"lpdev {version('lpdev')}"


def test_version_from_the_installed_command():
    r = subprocess.run([sys.executable, "-m", "lpdev", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"lpdev {version('lpdev')}" and r.stderr == ""


@pytest.mark.parametrize("argv, flag, means", [
    (["signer", "-ethUrl", "http://127.0.0.1:8545"], "-ethUrl", "--eth-url"),
    (["signer", "-httpAddr", "127.0.0.1:7936"], "-httpAddr", "--http-addr"),
    (["signer", "-httpAddr=127.0.0.1:7936"], "-httpAddr", "--http-addr"),
    (["signer", "-ethController", "0x" + "11" * 20], "-ethController", "--controller"),
    (["signer", "-maxTicketEV", "3000000000000"], "-maxTicketEV", "--max-ticket-ev"),
    (["signer", "-remoteSignerWebhookUrl", "http://x"], "-remoteSignerWebhookUrl", "--remote-signer-webhook-url"),
    (["orchestrator", "-ticketEV", "5"], "-ticketEV", "--ticket-ev"),
    (["orchestrator", "-serviceAddr", "https://127.0.0.1:8935"], "-serviceAddr", "--service-addr"),
    (["orchestrator", "-pricePerUnit", "10"], "-pricePerUnit", "--price-per-unit"),
    (["chain", "info", "--ethUrl", "http://x"], "--ethUrl", "--eth-url"),  # camelCase with two dashes too
    (["conformance", "-ethUrl", "http://x"], "-ethUrl", "--eth-url"),
])
def test_go_livepeer_flag_gets_did_you_mean(capsys, argv, flag, means):
    assert main(argv) == 2
    cap = capsys.readouterr()
    line = cap.err.strip()
    assert cap.out == "" and "\n" not in line, cap.err
    where = "lpdev " + " ".join(argv[: argv.index(next(a for a in argv if a.startswith("-")))])
    assert line.startswith(f"{where}: error: {flag} is not an option"), line
    assert line.endswith(f"did you mean {means}?"), line


def test_top_level_go_flag_names_the_sub_command_option(capsys):
    assert main(["-ethUrl", "http://x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("lpdev: error: -ethUrl is not an option") and "--eth-url" in err


def test_unknown_go_flag_points_at_help(capsys):
    assert main(["signer", "-network", "offchain"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("lpdev signer: error: -network is not an option (go-livepeer style; lpdev flags are "
                   "--kebab-case); see `lpdev signer --help`")


def test_real_flags_numbers_and_stdin_dash_are_left_to_argparse(capsys):
    assert main(["chain", "mine", "-5"]) == 2  # a number, not a flag: the command's own check answers
    assert "is not an option" not in capsys.readouterr().err
    with pytest.raises(SystemExit) as ei:
        main(["up", "-v", "--help"])  # -v is up's real short flag
    assert ei.value.code == 0
    assert "usage: lpdev up" in capsys.readouterr().out


def test_kebab():
    assert [_kebab(x) for x in ("ethUrl", "ticketEV", "maxTicketEV", "httpAddr", "ethController")] == [
        "eth-url", "ticket-ev", "max-ticket-ev", "http-addr", "eth-controller"]

"""`lpdev orchestrator` argument handling: chain/key resolution from flags or `lpdev chain up` config, and
one-line usage errors (exit 2) for bad input. Serving itself is covered by test_orch_crash.py."""
import json

import pytest

from lpdev.cli import UsageError, build_parser, main
from lpdev.commands.orchestrator import resolve

KEY1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil dev key #1 (public)
CTRL = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def parse(*argv):
    return build_parser().parse_args(["orchestrator", *argv])


def test_flags_win_over_config(tmp_path):
    cfg = tmp_path / "chain.json"
    cfg.write_text(json.dumps({"eth_url": "http://127.0.0.1:1", "controller": CTRL,
                               "accounts": [{"role": "orchestrator", "address": "0x", "private_key": KEY1}]}))
    url, ctrl, key, _ = resolve(parse("--config", str(cfg)))
    assert (url, ctrl, key.hex()) == ("http://127.0.0.1:1", CTRL, KEY1[2:])
    url, _, key, _ = resolve(parse("--config", str(cfg), "--eth-url", "http://127.0.0.1:2", "--eth-key", "11" * 32))
    assert url == "http://127.0.0.1:2" and key == b"\x11" * 32


def test_key_file(tmp_path):
    f = tmp_path / "k"
    f.write_text(KEY1 + "\n")
    _, _, key, _ = resolve(parse("--eth-url", "http://x:1", "--controller", CTRL, "--eth-key-file", str(f)))
    assert key.hex() == KEY1[2:]


@pytest.mark.parametrize("argv,needle", [
    (["--eth-url", "http://x:1", "--controller", CTRL], "--eth-key"),
    (["--eth-url", "http://x:1", "--controller", CTRL, "--eth-key", "zz"], "not hex"),
    (["--eth-url", "http://x:1", "--controller", CTRL, "--eth-key", "11" * 31], "want 32 bytes"),
    (["--eth-url", "http://x:1", "--controller", CTRL, "--eth-key", "11" * 32, "--eth-key-file", "f"], "not both"),
    (["--config", "/nonexistent/chain.json"], "not found"),
])
def test_usage_errors(argv, needle):
    with pytest.raises(UsageError) as e:
        resolve(parse(*argv))
    assert needle in str(e.value)


def test_bad_inputs_exit_2_with_one_line(capsys):
    assert main(["orchestrator", "--eth-url", "http://127.0.0.1:1", "--controller", CTRL, "--eth-key", KEY1,
                 "--service-addr", "ftp://h:1"]) == 2
    assert "scheme must be http or https" in capsys.readouterr().err
    assert main(["orchestrator", "--eth-url", "http://127.0.0.1:1", "--controller", CTRL, "--eth-key", KEY1,
                 "--faults", "{nope"]) == 2
    assert "--faults: invalid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["orchestrator", "--ticket-ev", "-5"])

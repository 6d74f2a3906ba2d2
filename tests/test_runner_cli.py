"""`lpdev orchestrator` with Live Runners: --orch-secret, --http-port, --live-runner-config, --runner dev runners,
go-style --price-per-unit values; one-line usage errors (exit 2) for bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

import devnet
from lpdev.cli import main

KEY1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil dev key #1 (public)
CTRL = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = ["orchestrator", "--eth-url", "http://127.0.0.1:1", "--controller", CTRL, "--eth-key", KEY1]


@pytest.mark.parametrize("argv,needle", [
    (["--runner", "gpu"], "--runner: unknown dev runner 'gpu' in 'gpu': choose one of echo, noop, text"),
    (["--runner", "noop:-1"], "--runner: bad price '-1' in 'noop:-1': a USD amount such as 0.36"),
    (["--runner", "noop:1/minute"], "--runner: bad unit 'minute' in 'noop:1/minute': hour, 720p or fixed"),
    (["--runner", "echo"], "--runner needs --orch-secret"),
    (["--http-port", "70000"], "--http-port 70000: not a port"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    assert main([*BASE, *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_price_per_unit_takes_go_currency_values(capsys):
    with pytest.raises(SystemExit) as e:
        main([*BASE, "--price-per-unit", "12EUR"])
    assert e.value.code == 2
    assert "price feed does not have EUR as a currency (ETH/USD)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*BASE, "--price-per-unit", "-3"])
    assert "price must be in the format of <price><currency>" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.anvil
def test_orchestrator_serves_runners_over_http_entry(tmp_path):
    chain = devnet.open_chain("anvil")
    static = tmp_path / "runners.json"
    static.write_text(json.dumps({"runners": [{"label": "down", "routing": "label", "app": "x/down",
                                               "runner_url": "http://127.0.0.1:1", "health_url": "/healthz"}]}))
    common = [sys.executable, "-m", "lpdev", "orchestrator", "--eth-url", chain.eth_url, "--controller",
              chain.contracts["Controller"], "--eth-key", chain.key("orchestrator").hex(), "--service-addr",
              "https://127.0.0.1:0", "--data-dir", str(tmp_path / "d")]
    try:
        if not callable(getattr(chain, "eth_usd", None)):  # a USD price needs the chain's ETH/USD feed
            bad = subprocess.run([*common, "--price-per-unit", "0.5e-12USD"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=60)
            assert bad.returncode == 2 and "--price-per-unit 0.5e-12USD needs an ETH/USD price feed on the chain: " \
                "no ETH/USD price feed" in bad.stderr, bad.stderr
        p = subprocess.Popen([*common, "--http-port", "0", "--orch-secret", "abcdef", "--runner", "echo",
                              "--runner", "text:0/fixed", "--live-runner-config", str(static), "--json"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            cast = json.loads(line)
            assert cast["http_url"].startswith("http://127.0.0.1:") and cast["orch_secret"] == "abcdef"
            assert [r["app"] for r in cast["runners"]] == ["lpdev/echo", "lpdev/text"]
            with urllib.request.urlopen(cast["http_url"] + "/discovery", timeout=10) as r:
                doc = json.load(r)
            assert doc[0]["address"] == cast["http_url"]
            assert sorted(x["app"] for x in doc[0]["runners"]) == ["lpdev/echo", "lpdev/text"]  # "down": unhealthy
            text = next(x for x in doc[0]["runners"] if x["app"] == "lpdev/text")
            with urllib.request.urlopen(text["url"] + "/text", timeout=10) as r:
                assert r.read().startswith(b"The runner woke at 2 a.m.")
        finally:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    finally:
        chain.close()

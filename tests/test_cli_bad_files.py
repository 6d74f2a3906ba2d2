"""Every file loader of `lpdev orchestrator`, `lpdev signer`, `lpdev conformance`, `lpdev token`, `lpdev decode`,
`lpdev tui --replay`, `lpdev scenario run|replay`, `lpdev up --config|--scenario` and `lpdev chain --config` given a
malformed file exits 2 with one line naming the file and the problem — never a traceback, a hang or
a RecursionError. The corpus: binary, UTF-16 (with and without a byte order mark), truncated, nested 10^5 deep,
huge numbers, NaN, a directory. Run with the recursion limit `lpdev up --chain embedded` leaves behind (100 000)."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from lpdev.cli import main

CORPUS = {
    "binary.json": bytes(range(256)) * 4,
    "utf16-bom.json": '{"eth_url": "http://x", "trace": "lpdev"}'.encode("utf-16"),
    "utf16.json": '{"eth_url": "http://x", "trace": "lpdev"}'.encode("utf-16-le"),
    "truncated.json": b'{"eth_url": "http://127.0.0.1:8545", "accounts": [{"role": "orch',
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep-object.json": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "huge-number.json": b'{"trace": "lpdev", "schema": ' + b"9" * 5000 + b"}",
    "nan.json": b'{"trace": "lpdev", "schema": NaN}',
    "gzip.json": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(40),
}


@pytest.fixture(autouse=True)
def raised_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    yield
    sys.setrecursionlimit(old)


@pytest.fixture
def corpus(tmp_path):
    paths = {}
    for name, data in CORPUS.items():
        p = tmp_path / name
        p.write_bytes(data)
        paths[name] = p
    d = tmp_path / "a-directory.json"
    d.mkdir()
    paths["directory"] = d
    return paths


def run(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_exit_2(code, err, *names):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "RecursionError" not in err
    assert any(n in lines[0] for n in names), (names, lines[0])


LOADERS = {
    "orchestrator --config": lambda f: ["orchestrator", "--config", str(f)],
    "orchestrator --eth-key-file": lambda f: ["orchestrator", "--eth-url", "http://127.0.0.1:9", "--controller",
                                              "0x" + "11" * 20, "--eth-key-file", str(f)],
    "orchestrator --faults": lambda f: ["orchestrator", "--eth-url", "http://127.0.0.1:9", "--controller",
                                        "0x" + "11" * 20, "--eth-key", "0x" + "22" * 32, "--faults", str(f)],
    "token --config": lambda f: ["token", "--config", str(f)],
    "signer --config": lambda f: ["signer", "--config", str(f)],
    "signer --eth-key-file": lambda f: ["signer", "--mock-chain", "--http-addr", "127.0.0.1:0", "--eth-key-file",
                                        str(f)],
    "signer --max-price-per-capability": lambda f: ["signer", "--mock-chain", "--max-price-per-capability", str(f)],
    "conformance --config": lambda f: ["conformance", "--signer", "http://127.0.0.1:9", "--config", str(f)],
    "tui --replay": lambda f: ["tui", "--replay", str(f)],
    "scenario replay": lambda f: ["scenario", "replay", str(f)],
    # the stack spec's two spellings (a scenario's YAML, lpdev.toml) and the chain's config
    "scenario run": lambda f: ["scenario", "run", str(_as(f, ".yaml"))],
    "up --scenario": lambda f: ["up", "--headless", "--any-port", "--scenario", str(_as(f, ".yaml"))],
    "up --config": lambda f: ["up", "--headless", "--any-port", "--config", str(_as(f, ".toml"))],
    "tui --scenario": lambda f: ["tui", "--scenario", str(_as(f, ".yaml"))],
    "walkthrough": lambda f: ["walkthrough", str(_as(f, ".yaml"))],
    "chain info --config": lambda f: ["chain", "info", "--config", str(f)],
}


def _as(path, suffix: str):
    """The same bytes under a name the command takes as that kind of file (a directory stays a directory)."""
    if path.is_dir():
        return path
    other = path.with_suffix(suffix)
    other.write_bytes(path.read_bytes())
    return other


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_each_file_loader_refuses_the_whole_corpus_in_one_line(loader, corpus, capsys):
    for name, path in corpus.items():
        argv = LOADERS[loader](path)
        given = Path(argv[-1])  # the file the command was given (some loaders take a copy with another suffix)
        code, _, err = run(argv, capsys)
        # the line names the file: its path or its name ("binary" alone would match "binary data")
        assert_one_line_exit_2(code, err, str(given), given.name)


@pytest.mark.parametrize("kind", ["state", "payment", "segcreds", "orch-info"])
def test_decode_refuses_the_corpus_on_stdin_in_one_line(kind, corpus, capsys, monkeypatch):
    for name, path in corpus.items():
        if name == "directory":
            continue
        code, _, err = run(["decode", kind, "-"], capsys, stdin=path.read_bytes(), monkeypatch=monkeypatch)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)


def test_orchestrator_numbers_and_faults_json_are_bounded(capsys, tmp_path):
    base = ["orchestrator", "--eth-url", "http://127.0.0.1:9", "--controller", "0x" + "11" * 20,
            "--eth-key", "0x" + "22" * 32]
    for flag, value, want in (("--block-poll", "nan", "NaN or infinity"), ("--timeout", "inf", "NaN or infinity"),
                              ("--ticket-ev", "9" * 5000, "more than 100 digits"),
                              ("--price-per-unit", "-1", "price must be in the format of <price><currency>, provided -1"),
                              ("--price-per-unit", "9" * 5000, "number with 5000 digits (at most 100)"),
                              ("--price-per-unit", "1e999999USD", "is out of range")):
        with pytest.raises(SystemExit) as ei:
            main(base + [flag, value])
        assert ei.value.code == 2
        assert want in capsys.readouterr().err
    code, _, err = run(base + ["--faults", '{"delay_s": ' + "[" * 10_000 + "]"], capsys)
    assert_one_line_exit_2(code, err, "--faults: nested deeper than 64 levels")
    code, _, err = run(base + ["--faults", '["stop_redeeming"]'], capsys)
    assert_one_line_exit_2(code, err, "--faults: want a JSON object")
    ok = tmp_path / "faults.json"
    ok.write_text(json.dumps({"nope": True}))
    code, _, err = run(base + ["--faults", str(ok)], capsys)  # read from the file, then checked knob by knob
    assert_one_line_exit_2(code, err, "unknown fault 'nope'")


def test_trace_writer_names_a_directory_or_impossible_path(tmp_path):
    from sim.events import TraceError, TraceWriter

    with pytest.raises(TraceError, match="is a directory"):
        TraceWriter(tmp_path)
    with pytest.raises(TraceError, match="cannot write the trace: No such file or directory"):
        TraceWriter(tmp_path / "missing" / "dir" / "t.jsonl")


def test_a_nested_state_blob_inside_a_trace_event_is_shown_as_no_state():
    """`tui --replay` decodes the signer state carried (base64) in events: a hostile blob is just not a state."""
    import base64

    from tui.model import decode_state

    for blob in (b"[" * 100_000, b'{"a":' * 100_000, b'{"Balance": NaN}', "{}".encode("utf-16")):
        assert decode_state({"state": base64.b64encode(blob).decode()}) is None
    assert decode_state({"state": base64.b64encode(b'{"SenderNonce": 3}').decode()}) == {"SenderNonce": 3}


def test_yaml_and_toml_specs_refuse_their_own_bad_forms(tmp_path, capsys):
    """What is malformed only in YAML or TOML: aliases that expand without end, a deep flow sequence, NaN/inf,
    a 5,000-digit amount, a duplicate key -- each one line naming the file and the line, exit 2."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    cases = {
        "bomb.yaml": (bomb + "stack: {}\nsteps: []\n", "YAML nodes (aliases included)"),
        "deep.yaml": ("stack: " + "[" * 10_000 + "]" * 10_000 + "\nsteps: []\n", "nested deeper than 64 levels"),
        "nan.yaml": ("stack: {seed: .nan}\nsteps: []\n", "NaN or infinity"),
        "huge.yaml": ("stack: {deposit: " + "9" * 5000 + "}\nsteps: []\n", "digits"),
        "dup.yaml": ("stack: {seed: 1, seed: 2}\nsteps: []\n", "duplicate key"),
        "wait.yaml": ("stack: {}\nsteps: [{wait: 1e400}]\n", "wait"),
        "count.yaml": ("stack: {gateways: [{name: gw}]}\nsteps: [{pay: {gateway: gw, count: "
                       "100000000000000000000000000}}]\n", "count"),
    }
    for name, (text, want) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        code, _, err = run(["scenario", "run", str(f)], capsys)
        assert_one_line_exit_2(code, err, str(f))
        assert want in err, (name, err)
    for name, text, want in (("nan.toml", "block_time = nan\n", "NaN or infinity"),
                             ("deep.toml", "a = " + "[" * 1000 + "]" * 1000 + "\n", "nested deeper"),
                             ("huge.toml", "deposit = " + "9" * 5000 + "\n", "digits"),
                             ("neg.toml", "[chain]\nblock_time = -1\n", "block_time")):
        f = tmp_path / name
        f.write_text(text)
        code, _, err = run(["up", "--headless", "--any-port", "--config", str(f)], capsys)
        assert_one_line_exit_2(code, err, str(f))
        assert want in err, (name, err)


def test_output_paths_are_checked_before_the_run(tmp_path, capsys):
    """--trace / --config-out pointing at a directory or into a missing folder: one line, exit 2, before anything
    runs (a scenario's trace is written at its end)."""
    for argv in (["scenario", "run", "happy-path-fixed", "--trace", str(tmp_path)],
                 ["scenario", "run", "happy-path-fixed", "--trace", str(tmp_path / "no" / "such" / "t.jsonl")],
                 ["up", "--headless", "--any-port", "--chain", "mock", "--trace", str(tmp_path)],
                 ["up", "--headless", "--any-port", "--chain", "mock", "--config-out", str(tmp_path / "x" / "y.json")]):
        code, out, err = run(argv, capsys)
        assert_one_line_exit_2(code, err, "is a directory", "does not exist")
        assert "PASS" not in out and "stack ready" not in out


def test_signer_numbers_flags_and_trace_are_bounded(capsys, tmp_path):
    """`lpdev signer`: number flags (digits, NaN, range), JSON given inline and --trace paths, each one line, exit 2."""
    base = ["signer", "--mock-chain", "--http-addr", "127.0.0.1:0"]
    for flag, value, want in (("--timeout", "nan", "NaN or infinity"), ("--deposit-multiplier", "0", "below the minimum 1"),
                              ("--eth-usd-max-age", "inf", "NaN or infinity"),
                              ("--discovery-refresh", "-1", "below the minimum 0")):
        with pytest.raises(SystemExit) as ei:
            main(base + [flag, value])
        assert ei.value.code == 2
        assert want in capsys.readouterr().err
    for flag, value, want in (
            ("--max-ticket-ev", "9" * 5000, "--max-ticket-ev: number with 5000 digits (at most 100)"),
            ("--max-price-per-unit", "1e9999999", "--max-price-per-unit: '1e9999999' is out of range"),
            ("--max-price-per-capability", '{"capabilities_prices": ' + "[" * 10_000,
             "--max-price-per-capability: nested deeper than 64 levels"),
            ("--max-price-per-capability", '{"capabilities_prices": [{"pipeline": "llm", "price_per_unit": "'
             + "9" * 500 + '"}]}', "entry 0: price_per_unit: number with 500 digits (at most 100)"),
            ("--trace", str(tmp_path), "is a directory"),
            ("--trace", str(tmp_path / "missing" / "t.jsonl"), "cannot write the trace: No such file or directory"),
            ("--eth-key", "zz", "--eth-key: the signer key must be 32 bytes of hex"),
            ("--http-addr", "127.0.0.1:" + "9" * 5000, "port: integer with more than 100 digits"),
            ("--metrics-addr", "127.0.0.1:70000", "--metrics-addr: the go-livepeer signer has no health/metrics")):
        code, _, err = run(base + [flag, value], capsys)
        assert_one_line_exit_2(code, err, want)
    code, _, err = run(["signer", "--mock-chain", "--profile", "livepeer-node", "--max-hourly-price-usd", "9" * 5000],
                       capsys)
    assert_one_line_exit_2(code, err, "--max-hourly-price-usd: number with 5000 digits (at most 100)")
    code, _, err = run(["signer", "--mock-chain", "--profile", "livepeer-node", "--metrics-addr", "127.0.0.1:70000"],
                       capsys)
    assert_one_line_exit_2(code, err, "--metrics-addr '127.0.0.1:70000': port: '70000' is above the maximum 65535")

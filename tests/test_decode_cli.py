"""`lpdev decode`: every field of payments, segCreds, OrchestratorInfo and signer states, human and --json;
malformed input -> one line on stderr and exit code 2."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lpdev.cli import main
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.capabilities import bitstring
from sim.wire.gojson import b64encode, go_json_dumps
from sim.wire.state import envelope
from tests.test_wire_vectors import (
    PAYMENT_B64, PRIV, RECIPIENT, RECIPIENT_RAND, SENDER_HEX, STATE_JSON, STATE_SIG, TICKET1_HASH, TICKET2_HASH,
    vector_auth_token, vector_params, vector_payment,
)

REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main(["decode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


# ---- payment -----------------------------------------------------------------------------------------
def test_payment_human_shows_both_tickets_and_signer(capsys):
    code, out, err = run(capsys, "payment", PAYMENT_B64)
    assert code == 0 and err == ""
    assert TICKET1_HASH in out and TICKET2_HASH in out
    assert out.count(f"{SENDER_HEX} (= sender)") == 2
    for needle in ("1200000000000000 wei", "0.0012 ETH", "771947261582107969490473233391252719021799897770937093596383896000000000",
                   "0.000666666667 %", "8000000000.000 wei", "3 wei/unit", "creation round", "3600", "20000040"):
        assert needle in out, needle


def test_payment_json(capsys):
    doc = run_json(capsys, "payment", PAYMENT_B64)
    assert doc["sender"] == SENDER_HEX
    assert doc["recipient"] == codec.to_checksum_address(RECIPIENT)
    assert doc["face_value"] == "1200000000000000"
    assert doc["win_prob"]["int"] == "771947261582107969490473233391252719021799897770937093596383896000000000"
    assert doc["expected_price"]["price_per_unit"] == 3 and doc["expected_price"]["pixels_per_unit"] == 1
    assert doc["creation_round"] == 3600
    assert [t["hash"] for t in doc["tickets"]] == ["0x" + TICKET1_HASH, "0x" + TICKET2_HASH]
    assert [t["nonce"] for t in doc["tickets"]] == [1, 2]
    assert all(t["signer"] == SENDER_HEX and t["signer_is_sender"] for t in doc["tickets"])
    assert all(t["ev_wei"] == "8000000000.000" for t in doc["tickets"])
    assert "winning" not in doc["tickets"][0]


def test_payment_win_test_with_recipient_rand(capsys):
    doc = run_json(capsys, "payment", PAYMENT_B64, "--recipient-rand", hex(RECIPIENT_RAND))
    assert doc["recipient_rand_matches_hash"] is True
    assert [t["winning"] for t in doc["tickets"]] == [False, False]  # the end-to-end vector: both lose
    assert doc["tickets"][0]["win_value"] == "0xb18f02c3911834acc101b1681026741a48dd9fbf598ccdad3674859dbe1366be"
    assert doc["tickets"][1]["win_value"] == "0x43922c54df904505337f14e3bb1c7806215b553bfd09f8d9c9bed91c4a486dfe"
    code, out, _ = run(capsys, "payment", PAYMENT_B64, "--recipient-rand", "0x01")
    assert code == 0 and "rand matches hash          no" in out


def test_payment_winning_ticket_detected(capsys):
    # win_prob = max: every ticket wins.
    from dataclasses import replace
    from sim.pm.sender import create_ticket_batch
    from sim.pm.ticket import MAX_WIN_PROB

    params = replace(vector_params(), win_prob=MAX_WIN_PROB)
    sender = bytes.fromhex(SENDER_HEX[2:])
    pay = codec.build_payment(params, sender, create_ticket_batch(PRIV, sender, params, [7]),
                              pb.PriceInfo(pricePerUnit=1, pixelsPerUnit=1))
    code, out, _ = run(capsys, "payment", codec.to_b64(pay), "--recipient-rand", "2a")
    assert code == 0 and "WINS" in out and "100.000000000000 %" in out


def test_payment_human_win_prob_as_approximate_fraction(capsys):
    # the end-to-end vector: winProb = floor(MAX * 8e9 / 1.2e15), i.e. one ticket in 150000 wins.
    code, out, _ = run(capsys, "payment", PAYMENT_B64)
    line = next(x for x in out.splitlines() if x.strip().startswith("win prob"))
    assert line.endswith("= 0.000666666667 % ≈ 1/150000"), line
    # --json is unchanged: no approximation key, no "≈"
    code, out, _ = run(capsys, "payment", PAYMENT_B64, "--json")
    assert code == 0 and "≈" not in out and "1/150000" not in out
    assert set(json.loads(out)["win_prob"]) == {"int", "hex", "fraction", "decimal", "percent"}


@pytest.mark.parametrize("win_prob,approx", [
    ("M // 2", "≈ 1/2"),
    ("M // 3", "≈ 1/3"),
    ("M // 10**9", "≈ 1/1000000000"),
    ("1", "≈ 1/115792089237316195423570985008687907853269984665640564039457584007913129639935"),
    ("M * 3 // 4", "≈ 3/4"),
    ("M", "= 1 (always wins)"),
    ("0", "= 0 (never wins)"),
])
def test_payment_win_prob_fraction_forms(capsys, win_prob, approx):
    from dataclasses import replace
    from sim.pm.sender import create_ticket_batch
    from sim.pm.ticket import MAX_WIN_PROB

    params = replace(vector_params(), win_prob=eval(win_prob, {"M": MAX_WIN_PROB}))
    sender = bytes.fromhex(SENDER_HEX[2:])
    pay = codec.build_payment(params, sender, create_ticket_batch(PRIV, sender, params, [1]),
                              pb.PriceInfo(pricePerUnit=1, pixelsPerUnit=1))
    code, out, _ = run(capsys, "payment", codec.to_b64(pay))
    line = next(x for x in out.splitlines() if x.strip().startswith("win prob"))
    assert code == 0 and line.endswith(f"% {approx}"), line


def test_payment_other_signer_and_zero_tickets(capsys):
    pay = vector_payment()
    pay.sender = RECIPIENT  # claims another sender: the ticket hash changes, the sig recovers someone else
    doc = run_json(capsys, "payment", codec.to_b64(pay))
    recipient_hex = codec.to_checksum_address(RECIPIENT)
    assert all(t["signer"] not in (None, recipient_hex) and not t["signer_is_sender"] for t in doc["tickets"])
    code, out, _ = run(capsys, "payment", codec.to_b64(pay))
    assert "NOT the sender" in out
    empty = codec.build_payment(vector_params(), bytes.fromhex(SENDER_HEX[2:]), [], pb.PriceInfo(pricePerUnit=3, pixelsPerUnit=1))
    doc = run_json(capsys, "payment", codec.to_b64(empty))
    assert doc["num_tickets"] == 0 and doc["tickets"] == [] and doc["face_value"] is None


def test_payment_from_stdin_with_whitespace(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"\n  {PAYMENT_B64}\n\n"))
    code, out, _ = run(capsys, "payment", "-")
    assert code == 0 and TICKET2_HASH in out


def test_payment_via_subprocess():
    proc = subprocess.run([sys.executable, "-m", "lpdev", "decode", "payment", PAYMENT_B64], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert TICKET1_HASH in proc.stdout and TICKET2_HASH in proc.stdout
    assert proc.stdout.count(SENDER_HEX) >= 3  # sender line + one per ticket
    bad = subprocess.run([sys.executable, "-m", "lpdev", "decode", "payment", "abc"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "lpdev: error: payment: illegal base64 data at input byte 0"


# ---- malformed input -----------------------------------------------------------------------------------
_sig64 = vector_payment()
_sig64.ticket_sender_params[0].sig = b"\x01" * 64


@pytest.mark.parametrize("argv,needle", [
    (["payment", "abc"], "illegal base64 data at input byte 0"),
    (["payment", "Cok="], "not a valid protobuf Payment"),
    (["payment", codec.b64encode(bytes.fromhex("0a8901"))], "field 1: truncated, length 137 but 0 bytes left"),
    (["payment", codec.to_b64(_sig64)], "ticket_sender_params[0].sig is 64 bytes, want 65"),
    (["payment", codec.to_b64(pb.Payment(sender=b"\x01" * 3))], "payment.sender is 3 bytes, want 20"),
    (["payment", "   "], "empty input"),
    (["payment", PAYMENT_B64, "--recipient-rand", "zz"], "--recipient-rand: not hex"),
    (["payment", PAYMENT_B64, "--recipient-rand", "00" * 33], "want 1 to 32 bytes"),
    (["segcreds", "QQ="], "segCreds: illegal base64 data at input byte 3"),
    (["segcreds", codec.to_b64(pb.SegData(sig=b"\x01"))], "segCreds.sig is 1 bytes, want 65"),
    (["segcreds", PAYMENT_B64, "--sender", "0x12"], "--sender: invalid address"),
    (["orch-info", "!!!!"], "orchestrator info: illegal base64 data at input byte 0"),
    (["orch-info", codec.b64encode(b"\x0a\x02\xff\xfe")], "not a valid protobuf OrchestratorInfo"),
    (["state", "{not-json"], "invalid character 'n' looking for beginning of object key string"),
    (["state", "[1]"], "want a JSON object"),
    (["state", '{"State":"a","Sig":null}'], "illegal base64 data at input byte 0"),
    (["state", '{"State":null,"Sig":null}'], "State is null"),
    (["state", go_json_dumps(envelope(STATE_JSON, b"\x01\x02")).decode()], "Sig is 2 bytes, want 65"),
    (["state", '{"SenderNonce":-1}'], "cannot unmarshal number -1"),
    (["state", go_json_dumps(envelope(b'{"AuthExpiry":"x"}', None)).decode()], "cannot unmarshal string"),
    (["state", STATE_JSON.decode(), "--signer", "nope"], "--signer: invalid address"),
])
def test_malformed_input_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lpdev: error: ") and needle in lines[0], err


# ---- segcreds ------------------------------------------------------------------------------------------
def test_segcreds(capsys):
    caps = pb.Capabilities(bitstring=bitstring([12, 35]))
    caps.constraints.PerCapability[35].models["noop"].warm = True
    seg = codec.build_segcreds(PRIV, "abcd1234", vector_auth_token(), caps)
    text = codec.to_b64(seg)
    doc = run_json(capsys, "segcreds", text, "--sender", SENDER_HEX)
    assert doc["manifest_id"] == "abcd1234" and doc["seq"] == 0 and doc["profiles"] == "invalid"
    assert doc["hash_is_empty_segment"] is True
    assert doc["signer"] == SENDER_HEX and doc["sig_valid"] is True
    assert doc["auth_token"] == {"token": "0x" + vector_auth_token().token.hex(), "session_id": "bar",
                                 "expiration": 100, "expiration_time": "1970-01-01T00:01:40Z"}
    assert [c["id"] for c in doc["capabilities"]["capabilities"]] == [12, 35]
    assert doc["capabilities"]["constraints"]["per_capability"]["35"]["models"]["noop"]["warm"] is True
    doc = run_json(capsys, "segcreds", text, "--sender", "0x" + RECIPIENT.hex())
    assert doc["sig_valid"] is False
    code, out, _ = run(capsys, "segcreds", text)
    assert code == 0 and "abcd1234" in out and "Live video to video" in out and "1970-01-01T00:01:40Z" in out


# ---- orch-info -----------------------------------------------------------------------------------------
def test_orch_info(capsys):
    info = pb.OrchestratorInfo(transcoder="https://127.0.0.1:8935", ticket_params=codec.ticket_params_to_pb(vector_params()),
                               price_info=pb.PriceInfo(pricePerUnit=150, pixelsPerUnit=175), address=RECIPIENT,
                               auth_token=vector_auth_token(), nodes=["https://n1"])
    info.capabilities_prices.add(pricePerUnit=7, pixelsPerUnit=1, capability=35, constraint="noop")
    info.storage.add(storageType=pb.OSInfo.S3)
    doc = run_json(capsys, "orch-info", codec.to_b64(info))
    assert doc["transcoder"] == "https://127.0.0.1:8935"
    assert doc["address"] == codec.to_checksum_address(RECIPIENT)
    assert doc["price_info"]["price"] == "6/7"
    tp = doc["ticket_params"]
    assert tp["face_value"] == "1200000000000000" and tp["creation_round"] == 3600
    assert tp["expiration_block"] == 20_000_040
    assert doc["capabilities_prices"][0]["constraint"] == "noop"
    assert doc["capabilities_prices"][0]["capability_name"] == "Live video to video"
    assert doc["storage"] == ["S3"] and doc["nodes"] == ["https://n1"]
    code, out, _ = run(capsys, "orch-info", codec.to_b64(info))
    assert code == 0 and "https://127.0.0.1:8935" in out and "6/7" in out


# ---- state ---------------------------------------------------------------------------------------------
def test_state_envelope(capsys):
    env_text = go_json_dumps(envelope(STATE_JSON, bytes.fromhex(STATE_SIG))).decode()
    doc = run_json(capsys, "state", env_text, "--signer", SENDER_HEX)
    assert doc["state"]["StateID"] == "0a1b2c3d" and doc["state"]["Balance"] == "125/7"
    assert doc["raw_state"].encode() == STATE_JSON and doc["raw_state_bytes"] == 370
    assert doc["signer"] == SENDER_HEX and doc["sig_valid"] is True
    assert doc["balance_wei"] == "17.857" and doc["initial_price"] == "3"
    doc = run_json(capsys, "state", env_text, "--signer", "0x" + RECIPIENT.hex())
    assert doc["sig_valid"] is False and doc["signer"] == SENDER_HEX
    code, out, _ = run(capsys, "state", env_text)
    assert code == 0
    for needle in ("0a1b2c3d", "2026-08-18T20:47:20.123456789Z", "0x73aed7b5deb30222fa896f399d46cc99c7bee57f",
                   "125/7", SENDER_HEX, "live"):
        assert needle in out


def test_state_inside_a_response_and_raw_state(capsys):
    response = go_json_dumps({"payment": PAYMENT_B64, "segCreds": "",
                              "state": {"state": b64encode(STATE_JSON), "sig": b64encode(bytes.fromhex(STATE_SIG))}})
    doc = run_json(capsys, "state", response.decode())
    assert doc["signer"] == SENDER_HEX and doc["state"]["SenderNonce"] == 2
    doc = run_json(capsys, "state", STATE_JSON.decode(), "--signer", SENDER_HEX)
    assert doc["sig"] is None and doc["sig_valid"] is None and doc["state"]["Type"] == "live"


def test_payment_bad_signature_is_reported_not_fatal(capsys):
    pay = vector_payment()
    pay.ticket_sender_params[1].sig = pay.ticket_sender_params[1].sig[:64] + b"\x00"
    doc = run_json(capsys, "payment", codec.to_b64(pay))
    t = doc["tickets"][1]
    assert t["signer"] is None and t["sig_error"] == "signature v value must be 27 or 28"
    assert doc["tickets"][0]["signer_is_sender"] is True
    code, out, _ = run(capsys, "payment", codec.to_b64(pay))
    assert code == 0 and "bad signature: signature v value must be 27 or 28" in out

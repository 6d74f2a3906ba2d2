"""`lpdev up --headless --scenario refresh-params-expired`: a library scenario on the live stack -- anvil, wall
clock, real ports -- passes its expectations, while the real livepeer-gateway SDK pays against the same signer and
orchestrator; the SDK's winners count in the scenario's money invariant like any other."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


from livepeer_gateway import PaymentSession, get_orch_info  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.anvil, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def bare(url: str) -> str:
    return url.split("://", 1)[1]


def test_up_scenario_on_anvil_with_the_sdk_paying_meanwhile(tmp_path):
    cast = tmp_path / "cast.json"
    proc = subprocess.Popen([sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", "--scenario",
                             "refresh-params-expired", "--config-out", str(cast),
                             "--state-file", str(tmp_path / "state.json")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not cast.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        doc = json.loads(cast.read_text())
        assert doc["scenario"] == "refresh-params-expired" and doc["backend"] == "anvil"
        orch, signer = doc["orchestrators"][0]["url"], doc["signer_url"]
        # the SDK, as a user would point it at the stack while the scenario runs (it takes ~25 s of wall time)
        info = get_orch_info(bare(orch), signer_url=bare(signer))
        assert info.transcoder == orch
        session = PaymentSession(bare(signer), info, type="lv2v")
        session.set_manifest_id("sdk-during-scenario")
        session.send_payment()
        time.sleep(1)
        session.send_payment()
        assert proc.poll() is None, "the scenario ended before the SDK paid: nothing was checked"
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, out[-3000:] + err[-2000:]
    assert "scenario refresh-params-expired on anvil (seed 4): PASS" in out
    for line in ("[PASS] expired params -> one refresh, then paid", "[PASS] every payment accepted in the end",
                 "[PASS] money_conservation", "[PASS] nonce_unique"):
        assert line in out, out[-3000:]
    assert "sdk-during-scenario" not in err and "Traceback" not in err
    assert not cast.exists()  # removed on exit, like `lpdev up`'s

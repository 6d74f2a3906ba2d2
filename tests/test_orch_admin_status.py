"""``GET /admin/status`` reads for a person too (issue 16, item 8): each exact wei amount keeps its exact form
(a RatString balance, an int face value) and gains an ETH reading beside it."""
from __future__ import annotations

import json
from fractions import Fraction

from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import Payer
from sim.pm.money import format_wei, parse_rat
from tests.test_orch_server import chain, info_for, post  # noqa: F401 - chain: the mock-chain fixture


async def test_admin_status_balances_exact_and_in_eth(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=3600) as orch:
        orch.orch.faults.update({"win_prob_max": True})  # every ticket wins: a redemption row too
        payer = Payer(chain.key("sender"), manifest_id="m-1")
        await info_for(orch, payer)
        status, _, body = await post(orch.url, headers=payer.headers(3))
        assert status == 200, body
        status, ctype, body = await post(orch.url, "/admin/status", method="GET")
        assert status == 200 and ctype.startswith("application/json")
        st = json.loads(body)
    (bal,) = [b for b in st["balances"] if b["manifest_id"] == "m-1"]
    exact = sum((t.ticket.ev for t in payer.sent), Fraction(0))
    assert parse_rat(bal["balance"]) == exact                  # the exact value, as before
    assert bal["balance_eth"] == format_wei(exact) and bal["balance_eth"].endswith(" ETH")
    assert st["redemptions"], st["winners"]
    for r in st["redemptions"]:
        assert isinstance(r["face_value"], int) and r["face_value_eth"] == format_wei(r["face_value"])

"""`lpdev chain bond | delegate | unbond | rebond | withdraw-stake | claim-earnings | withdraw-fees | eth-usd`
against a running anvil devnet (the config JSON `lpdev chain up` writes), and the one-line errors for bad input."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

import devnet
from devnet.config import ETHER, LPT, DevnetConfig
from lpdev.cli import main
from lpdev.commands.chain import chain_document
from sim.pm.crypto import keccak
from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

pytestmark = pytest.mark.anvil


@pytest.fixture
def devchain(tmp_path):
    chain = devnet.open_chain("anvil", config=DevnetConfig(round_length=100))
    cfg = tmp_path / "chain.json"
    cfg.write_text(json.dumps(chain_document(chain)))
    yield chain, str(cfg)
    chain.close()


def a(chain, role: str) -> bytes:
    return bytes.fromhex(chain.address(role)[2:])


def redeem(chain, recipient: str, face_value: int, nonce: int):
    rnd = chain.last_initialized_round()
    rand = 77 + nonce
    t = Ticket(recipient=a(chain, recipient), sender=a(chain, "sender"), face_value=face_value, win_prob=MAX_WIN_PROB,
               sender_nonce=nonce, recipient_rand_hash=keccak(u256(rand)), creation_round=rnd,
               creation_round_block_hash=chain.block_hash_for_round(rnd))
    res = chain.redeem_winning_ticket(t, t.sign(chain.key("sender")), rand, from_key=chain.key(recipient))
    assert res.ok, res
    return res


def test_bond_delegate_share_claim_and_withdraw(devchain, capsys):
    chain, cfg = devchain
    c = ["--config", cfg]
    # an orchestrator: approve, bond to itself, transcoder(); in the pool now, active from the next round
    assert main(["chain", "bond", *c, "--role", "orchestrator2", "--amount", "2000", "--fee-share", "50%"]) == 0
    out = capsys.readouterr().out
    assert "transcoder: ok" in out and "TranscoderUpdate(" in out
    assert f"stake 2000.000000 LPT, reward cut 10%, fee share 50%, active from round {chain.current_round() + 1}" in out
    # a delegator: approve, bond to it; its share counts from the next round
    assert main(["chain", "delegate", *c, "--to", "orchestrator2", "--amount", "500lpt"]) == 0
    out = capsys.readouterr().out
    assert f"bonded 500.000000 LPT to {chain.address('orchestrator2')} (pending" in out
    assert main(["chain", "advance-round", *c]) == 0
    capsys.readouterr()
    o2, d = a(chain, "orchestrator2"), a(chain, "delegator")
    assert chain.is_active_transcoder(o2) and chain.delegator_info(d).status == "Bonded"
    # 10 ETH of fees: 50 % commission, 50 % shared by stake 2000 : 500 -> 9 ETH and 1 ETH (exact here)
    redeem(chain, "orchestrator2", 10 * ETHER, 1)
    assert chain.pending_fees(o2) == 9 * ETHER and chain.pending_fees(d) == ETHER
    assert main(["chain", "claim-earnings", *c]) == 0  # role delegator by default
    assert "withdrawable fees 1.000000 ETH" in capsys.readouterr().out
    assert main(["chain", "withdraw-fees", *c, "--role", "delegator", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    # claimed this round already: no EarningsClaimed, and fees are not in the BondingVotes checkpoint
    assert res["ok"] and [e["event"] for e in res["events"]] == ["WithdrawFees"]
    assert res["events"][0]["args"]["amount"] == ETHER
    assert main(["chain", "withdraw-fees", *c, "--role", "orchestrator2", "--amount", "4eth"]) == 0
    assert "WithdrawFees(" in capsys.readouterr().out and chain.pending_fees(o2) == 5 * ETHER
    # the info view: the pool, the bonded accounts and their pending fees
    assert main(["chain", "info", *c, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    pool = {t["address"]: t for t in info["bonding"]["pool"]}
    assert pool[chain.address("orchestrator2")]["total_stake"] == 2500 * LPT
    assert pool[chain.address("orchestrator2")]["fee_share"] == 500_000
    accounts = {x["role"]: x for x in info["bonding"]["accounts"]}
    assert accounts["delegator"]["bonded"] == 500 * LPT and accounts["delegator"]["pending_fees"] == 0
    assert accounts["orchestrator2"]["pending_fees"] == 5 * ETHER
    assert info["eth_usd"]["usd_per_eth"] == "3000" and info["eth_usd"]["decimals"] == 8
    # unbond -> lock 0, rebond it, then there is no lock 0 to withdraw
    assert main(["chain", "unbond", "100", *c]) == 0
    assert "Unbond(" in capsys.readouterr().out
    assert main(["chain", "rebond", "0", *c]) == 0
    assert "Rebond(" in capsys.readouterr().out
    assert main(["chain", "withdraw-stake", "0", *c]) == 1
    assert "invalid unbonding lock ID" in capsys.readouterr().err
    assert chain.delegator_info(d).bonded_amount == 500 * LPT
    # all of it, then back to another transcoder (rebondFromUnbonded)
    assert main(["chain", "unbond", "500", *c]) == 0
    assert main(["chain", "rebond", "1", *c, "--to", "orchestrator"]) == 0
    assert chain.delegator_info(d).delegate_address == chain.address("orchestrator")


def test_an_active_transcoder_keeps_its_cuts_unless_asked(devchain, capsys):
    chain, cfg = devchain
    assert main(["chain", "bond", "--config", cfg, "--amount", "1", "--fee-share", "20%"]) == 0
    out = capsys.readouterr().out
    assert "transcoder() with new cuts was NOT sent" in out and "fee share 5%" in out
    assert main(["chain", "bond", "--config", cfg, "--amount", "1", "--fee-share", "20%", "--set-cuts"]) == 1
    assert "caller can't be active or must have already called reward for the current round" in \
        capsys.readouterr().err


@pytest.mark.parametrize("argv,code,message", [
    (["bond", "--amount", "1.5.5"], 2, "bad LPT amount"),
    (["bond", "--amount", "0.0000000000000000001"], 2, "not a whole number of LPT base units"),
    (["bond", "--fee-share", "101%"], 2, "at most 100%"),
    (["bond", "--reward-cut", "ten"], 2, "bad --reward-cut"),
    (["delegate", "--to", "nobody"], 2, "neither an address nor a role"),
    (["delegate", "--to", "orchestrator", "--amount", "20000"], 1, "ERC20: transfer amount exceeds balance"),
    (["delegate", "--to", "0x" + "00" * 20, "--amount", "0"], 1, "delegation amount must be greater than 0"),
    (["unbond", "1", "--role", "sender"], 1, "caller must be bonded"),
    (["withdraw-fees", "--role", "gateway", "--amount", "1wei"], 1, "insufficient fees to withdraw"),
    (["eth-usd", "3000.123456789"], 2, "more than 8 decimals"),
    (["eth-usd", "0"], 2, "must be positive"),
    (["eth-usd", "1e99999999"], 2, "bad ETH/USD price: '1e99999999' is out of range"),
    (["eth-usd", "1e80"], 2, "'1e80' is too large: the feed's answer is an int256"),
    (["eth-usd", "--age", "60"], 2, "--age needs --stale"),
    (["eth-usd", "--stale", "--age", "0"], 2, "--age must be > 0"),
    (["eth-usd", "2500", "--role", "gateway"], 1, "only owner"),
])
def test_bad_input_is_one_line(devchain, capsys, argv, code, message):
    _, cfg = devchain
    assert main(["chain", *argv, "--config", cfg]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_eth_usd_show_set_and_stale(devchain, capsys):
    chain, cfg = devchain
    assert main(["chain", "eth-usd", "--config", cfg, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["usd_per_eth"] == "3000" and doc["round_id"] == 1 and doc["decimals"] == 8
    assert doc["feed"] == chain.contracts["EthUsdPriceFeed"] and 0 <= doc["age_s"] < 600
    assert main(["chain", "eth-usd", "2500.5", "--config", cfg]) == 0
    assert "ETH/USD 2500.5 (round 2" in capsys.readouterr().out
    feed = chain.eth_usd()
    assert feed.usd_per_eth == Fraction(5001, 2) and feed.wei_per_usd() == Fraction(2 * 10**18, 5001)
    assert main(["chain", "eth-usd", "--stale", "--config", cfg]) == 0  # same price, updatedAt 3 h ago
    assert "STALE" in capsys.readouterr().out
    feed = chain.eth_usd()
    assert feed.round_id == 3 and str(feed.usd_per_eth) == "5001/2"
    # anvil stamps blocks with the wall clock: the round's own block may be a second later than the one it aged from
    assert 3 * 3600 <= chain.block_timestamp() - feed.updated_at <= 3 * 3600 + 2
    assert main(["chain", "eth-usd", "2600", "--stale", "--age", "60", "--config", cfg, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["usd_per_eth"] == "2600" and 60 <= doc["age_s"] <= 62 and doc["round_id"] == 4


def test_no_chain_given_names_both_config_files(tmp_path, monkeypatch, capsys):
    """Issue 16 item 7: besides `lpdev chain up`'s .lpdev/chain.json, a running `lpdev up`'s .lpdev/stack.json works."""
    monkeypatch.chdir(tmp_path)
    for argv in (["chain", "info"], ["chain", "eth-usd"], ["chain", "bond"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert ".lpdev/chain.json" in err and ".lpdev/stack.json" in err and err.count("\n") == 1
    assert main(["chain", "info", "--config", "missing.json"]) == 2
    err = capsys.readouterr().err
    assert "missing.json not found" in err and ".lpdev/stack.json" in err

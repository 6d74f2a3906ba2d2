"""money_conservation, ticket by ticket: what each redemption paid on chain must add up to what orchestrators were
credited and what senders lost."""
from sim.events import Event
from stack.scenario.invariants import money_conservation


def mined(face, paid):
    return Event(1, 0.0, "orch", "orch.redemption_mined", {"face_value": face, "amount_paid": paid, "ticket_hash": "0x1"})


def books(lost, credited):
    before = {"senders": {"s": {"deposit": 1000, "reserve": 0}}, "orchestrators": {"o": 0}}
    after = {"senders": {"s": {"deposit": 1000 - lost, "reserve": 0}}, "orchestrators": {"o": credited}}
    return before, after


def test_exact_payment_holds():
    r = money_conservation([mined(100, 100), mined(50, 50)], *books(150, 150), {}, {})
    assert r.ok and "unpaid" not in r.detail


def test_reserve_capped_ticket_is_reported_not_failed():
    r = money_conservation([mined(100, 100), mined(500, 70)], *books(170, 170), {}, {})
    assert r.ok and "430 wei of face value unpaid on 1 ticket(s)" in r.detail


def test_paid_amounts_that_do_not_add_up_fail():
    r = money_conservation([mined(100, 100), mined(100, 90)], *books(200, 200), {}, {})
    assert not r.ok and "report paying 190 wei, not 200" in r.detail


def test_lost_not_credited_fails():
    r = money_conservation([mined(100, 100)], *books(120, 100), {}, {})
    assert not r.ok and "lost != credited" in r.detail


# ---------------------------------------------------------------- the other invariants can fail too
from types import SimpleNamespace  # noqa: E402

from sim.pm.ticket import Ticket  # noqa: E402
from stack.scenario.invariants import (  # noqa: E402
    WinnerRecord, no_double_redemption, signer_balance_nonnegative, winners_accounted)


def ev(seq, kind, actor="orch", **data):
    return Event(seq, 0.0, actor, kind, data)


def redeemed(seq, h):
    return ev(seq, "orch.redemption_mined", ticket_hash=h, face_value=10, amount_paid=10)


H1, H2 = "0x" + "11" * 32, "0x" + "22" * 32


def test_no_double_redemption_holds_for_distinct_hashes():
    r = no_double_redemption([redeemed(1, H1), redeemed(2, H2)], is_used=lambda h: True)
    assert r.ok and r.detail == "2 ticket(s) redeemed once each"


def test_no_double_redemption_reports_a_hash_redeemed_twice():
    r = no_double_redemption([redeemed(1, H1), redeemed(2, H2), redeemed(3, H1)])
    assert not r.ok and r.detail == f"redeemed twice: {H1}"


def test_no_double_redemption_reports_a_redemption_the_chain_does_not_know():
    used = {bytes.fromhex(H1[2:])}
    r = no_double_redemption([redeemed(1, H1), redeemed(2, H2)], is_used=lambda h: h in used)
    assert not r.ok and r.detail == f"reported redeemed but not used on chain: {H2}"


def _ticket(nonce: int) -> Ticket:
    return Ticket(recipient=b"\x01" * 20, sender=b"\x02" * 20, face_value=10, win_prob=1, sender_nonce=nonce,
                  recipient_rand_hash=b"\x03" * 32, creation_round=1, creation_round_block_hash=b"\x04" * 32)


def stored(n: int):
    return [ev(i + 1, "orch.winner_stored", nonce=i) for i in range(n)]


def winner(nonce, status, reason=None):  # what WinnerStore.all() returns, as far as the invariant reads it
    t = _ticket(nonce)
    return SimpleNamespace(ticket=t, ticket_hash=t.hash(), status=status, reason=reason)


def test_winners_accounted_holds_when_every_winner_is_redeemed_or_explained():
    stores = {"orch": [winner(1, "redeemed"), winner(2, "failed", "ticket is expired"),
                       winner(3, "queued", "insufficient sender funds for redeem tx cost")]}
    r = winners_accounted(stored(3) + [ev(9, "orch.winner_stored", duplicate=True)], stores)
    assert r.ok, r.detail
    assert r.detail == ("1 redeemed, 1 failed, 1 queued; reasons: insufficient sender funds for redeem tx cost (x1); "
                        "ticket is expired (x1)")


def test_winners_accounted_reports_a_winner_left_without_an_outcome():
    w = winner(2, "queued")
    r = winners_accounted(stored(2), {"orch": [winner(1, "redeemed"), w]})
    assert not r.ok
    assert f"orch:0x{w.ticket_hash.hex()[:16]}… queued without a reason" in r.detail


def test_winners_accounted_reports_stored_events_that_the_stores_do_not_have():
    r = winners_accounted(stored(3), {"orch": [winner(1, "redeemed")], "orch2": [winner(2, "redeemed")]})
    assert not r.ok and r.detail == "3 winner(s) reported stored but 2 found in the stores (2 redeemed)"


def test_winners_accounted_reads_the_records_a_trace_keeps():
    recs = [WinnerRecord.from_json(WinnerRecord.of(winner(1, "sending")).to_json())]
    r = winners_accounted(stored(1), {"orch": recs})
    assert not r.ok and "sending without a reason" in r.detail


def reply(seq, balance, status=200, gw="gw"):
    return ev(seq, "gateway.signer_reply", actor=gw, status=status, balance=balance, signer="signer")


def test_signer_balance_nonnegative_holds():
    r = signer_balance_nonnegative([reply(1, "3/2"), reply(2, "0"), reply(3, "-5", status=400)])
    assert r.ok and r.detail == "2 state(s), lowest balance 0.000 wei"


def test_signer_balance_nonnegative_reports_a_negative_state_balance():
    r = signer_balance_nonnegative([reply(1, "3/2"), reply(2, "-1/4", gw="gw-b"), reply(3, "-7")])
    assert not r.ok
    assert r.detail == ("2 of 3 state(s) carried a negative balance, lowest -7.000 wei; first: gw-b (event 2) got "
                        "balance -1/4 from signer")

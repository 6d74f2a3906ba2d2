"""money_conservation, ticket by ticket: what each redemption paid on chain must add up to what orchestrators were
credited and what senders lost."""
from sim.events import Event
from sim.scenario.invariants import money_conservation


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

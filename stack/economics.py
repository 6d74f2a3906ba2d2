"""`lpdev up`'s stack spec as economics settings: what `lpdev economics check --preset up` and `lpdev bench
economics` ask about. It sits here, above both the spec (this package) and ``sim.economics`` (which must not import
the stack), so the CLI and the benchmarks share it without the benchmarks importing the CLI."""
from __future__ import annotations

from fractions import Fraction

from sim.economics.settings import Settings
from stack.spec import UP_DEFAULTS, SpecParser, parse_spec

__all__ = ["up_settings"]


def up_settings() -> Settings:
    """`lpdev up`'s economics (the stack spec it runs by default, stack/spec.py) as check settings: its
    orchestrator's ticket EV, face value cap, price and redemption estimate, its gateway's type and interval, the
    signer's limits, the sender's funds, its orchestrators, anvil's 1 gwei gas price and the block time."""
    spec = parse_spec({}, SpecParser("<lpdev up defaults>"), base=UP_DEFAULTS)
    o, g, s = spec.orchestrators[0], spec.gateways[0], spec.signers[0]
    return Settings(job_type=g.type, price_per_unit=o.price_per_unit, pixels_per_unit=o.pixels_per_unit,
                    ticket_ev=o.ticket_ev, max_face_value=o.max_face_value, gas_price=10**9,
                    redeem_gas=o.redeem_gas, interval_s=g.interval_s, max_ticket_ev=Fraction(s.max_ticket_ev),
                    max_total_ev=Fraction(s.max_total_ev), deposit=spec.deposit, reserve=spec.reserve,
                    orchestrators=len(spec.orchestrators), block_time_s=spec.block_time,
                    round_blocks=spec.round_length)

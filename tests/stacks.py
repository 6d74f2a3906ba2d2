"""Stacks for tests: the spec `lpdev up` builds (its defaults + flags), on free ports."""
from __future__ import annotations

from stack.spec import UP_DEFAULTS, SpecParser, StackSpec, parse_spec


def up_spec(*, chain: str = "embedded", seed: int | None = 1, any_port: bool = True, orchestrators: int = 1,
            signers: int = 1, gateway: bool = True, interval: float | None = None, block_time: float | None = None,
            lv2v_job: bool | None = None, segment_s: float | None = None, remote_discovery: bool | None = None,
            **orchestrator) -> StackSpec:
    """What `lpdev up --chain CHAIN --any-port [flags]` would run; ``orchestrator``: [orchestrator] keys
    (ticket_ev, max_face_value, price_per_unit, ...)."""
    doc: dict = {"chain": chain, "seed": seed, "orchestrators": orchestrators, "signers": signers}
    if any_port:
        doc["ports"] = {"eth": 0, "signer": 0, "orchestrator": 0, "orchestrator_http": 0}
    if block_time is not None:
        doc["block_time"] = block_time
    if remote_discovery is not None:
        doc["remote_discovery"] = remote_discovery
    gw: dict = {"enabled": gateway}
    for k, v in (("interval_s", interval), ("lv2v_job", lv2v_job), ("segment_s", segment_s)):
        if v is not None:
            gw[k] = v
    doc["gateway"] = gw
    if orchestrator:
        doc["orchestrator"] = orchestrator
    return parse_spec(doc, SpecParser("<test>"), base=UP_DEFAULTS)

"""How a stack runs, as opposed to what it runs (the spec, :mod:`stack.spec`).

The same spec can run deterministically for a scenario (virtual clock, free ports, the runner steps blocks and
redemptions) or live for ``lpdev up`` (wall clock, well-known ports, HTTPS signers for the SDK, a block ticker,
the orchestrators' own chain poll). Everything else -- time travel, step gates, kill/restart, fault knobs, the
event bus -- works the same on every policy.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Policy", "SCENARIO", "LIVE", "LIVE_SCENARIO", "DEMO"]


@dataclass(frozen=True)
class Policy:
    name: str
    # "virtual": one VirtualClock for every actor that moves only when the stack moves it (byte-identical
    # traces); "wall": the real clock. With ``speed``, a virtual clock runs by itself that many times faster
    # than the wall clock (the TUI demo: readable, but not days long).
    clock: str = "virtual"
    speed: float | None = None
    fixed_ports: bool = False  # the spec's well-known ports (checked first) instead of free ones
    signer_https: bool = False  # each signer also on HTTPS (the SDK turns a bare host:port into https://)
    block_ticker: bool = False  # mine a block every spec.block_time (else only when a step or a key mines)
    chain_poll: bool = False  # orchestrators watch the chain and redeem on their own (else Stack.sync drives them)
    round_initializer: bool = False  # watch the chain and initialize every new round, however it was entered
    gateway_loops: bool = False  # each gateway pays at its cadence until stop (else a scenario's steps drive it)
    probe: bool = False  # before "ready": every service answers over its real transport
    normalise: bool = True  # rewrite per-run text (URLs, ports, temp dirs, fingerprints) in traces

    @property
    def virtual(self) -> bool:
        return self.clock == "virtual"

    def with_(self, **kw) -> "Policy":
        return replace(self, **kw)


# lpdev scenario run, the walkthrough tours, lpdev tui --scenario, the benches: deterministic, stepped
SCENARIO = Policy("scenario")
# lpdev up: a live stack the SDK and go-livepeer can talk to
LIVE = Policy("live", clock="wall", fixed_ports=True, signer_https=True, block_ticker=True, chain_poll=True,
              round_initializer=True, gateway_loops=True, probe=True, normalise=False)
# lpdev up --scenario: live, but the scenario's steps mine the blocks and drive the gateways
LIVE_SCENARIO = LIVE.with_(name="live-scenario", block_ticker=False, gateway_loops=False)
# lpdev tui --demo: the real actors on a mock chain, on a virtual clock running 10x the wall clock
DEMO = Policy("demo", clock="virtual", speed=10.0, block_ticker=True, round_initializer=True, gateway_loops=True)

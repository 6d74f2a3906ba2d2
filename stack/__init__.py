"""The stack floor: ONE way to assemble a chain, signers, orchestrators and gateways (:mod:`stack.stack`), from
ONE declarative spec (:mod:`stack.spec`: a scenario's ``stack:`` section or ``lpdev.toml``) and a run policy
(:mod:`stack.policy`: clock, ports, transports, block production, redemption pacing); the live loops
(:mod:`stack.live`), the cast (:mod:`stack.cast`), and the scenario runner (:mod:`stack.scenario`).

Imports go downwards only: ``sim`` (PM core, wire, actors) and ``devnet`` -> ``stack`` -> ``tui`` -> ``lpdev``.
"""

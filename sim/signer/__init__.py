"""The remote signer (protocol.md §3): a sans-IO core (:mod:`sim.signer.core`) and an aiohttp adapter
(:mod:`sim.signer.http`). See ``sim/signer/openapi.yaml`` for the HTTP surface."""

"""The remote signer (docs/remote-signer.md): a sans-IO core (:mod:`sim.signer.core`) and an aiohttp adapter
(:mod:`sim.signer.http`). See ``sim/signer/openapi.yaml`` for the HTTP surface."""

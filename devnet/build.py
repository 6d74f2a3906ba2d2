"""Compile devnet/contracts/*.sol with the pinned solc-js and write contracts_abi/<Name>.json.

Run as ``lpdev chain build-contracts`` or ``python -m devnet.build`` (``--check`` compares instead of writing and
exits 1 if an artifact is stale). Each artifact carries the ABI, creation bytecode, the exact compiler version,
the settings, and the sha256 of every source so staleness is visible without a compiler.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["SOURCES_DIR", "ARTIFACTS_DIR", "DEPLOYABLE", "SOLC_VERSION", "compile_contracts", "write_artifacts",
           "stale_artifacts", "load_artifact", "link_bytecode", "BuildError"]

ROOT = Path(__file__).resolve().parent.parent
SOURCES_DIR = ROOT / "devnet" / "contracts"
ARTIFACTS_DIR = ROOT / "contracts_abi"
TOOLS_DIR = ROOT / "devnet" / "tools"
COMPILE_JS = TOOLS_DIR / "compile.js"

SOLC_VERSION = "0.8.37"  # pinned in devnet/tools/package.json
DEPLOYABLE = ("Controller", "ManagerProxy", "TicketBroker", "RoundsManager", "BondingManager", "TranscoderPool",
              "BondingVotes", "Minter", "LivepeerToken", "ServiceRegistry", "EthUsdPriceFeed")
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    # london, the deployed contracts' target (solc 0.8.9's default): no PUSH0/MCOPY, so gas is counted on the same
    # opcodes; it runs on anvil (prague by default) and py-evm's PragueVM.
    "evmVersion": "london",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences"]}},
}


class BuildError(Exception):
    pass


def _sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(SOURCES_DIR.glob("*.sol"))}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compile_contracts(timeout: float = 60) -> dict[str, dict]:
    """Compile all sources; returns {contract name: artifact dict} for the deployable contracts."""
    node = shutil.which("node")
    if node is None:
        raise BuildError("node not found: install Node.js (>= 18) and run `make bootstrap` to get solc-js")
    if not (TOOLS_DIR / "node_modules" / "solc").is_dir():
        raise BuildError("solc-js missing in devnet/tools/node_modules: run `make bootstrap`")
    sources = _sources()
    std_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    proc = subprocess.run([node, str(COMPILE_JS)], input=json.dumps(std_input), capture_output=True, text=True,
                          cwd=TOOLS_DIR, timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(f"solc-js failed: {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout)
    version = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"solc-js is {version}, expected {SOLC_VERSION}: run `make bootstrap`")
    out = result["output"]
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("compile errors:\n" + "\n".join(e["formattedMessage"] for e in errors))
    source_hashes = {name: _sha256(text) for name, text in sources.items()}
    artifacts = {}
    for name in DEPLOYABLE:
        c = out["contracts"][f"{name}.sol"][name]
        artifacts[name] = {
            "contractName": name,
            "sourceName": f"devnet/contracts/{name}.sol",
            "compiler": {"name": "solc-js", "version": version, "settings": {k: v for k, v in SETTINGS.items()
                                                                              if k != "outputSelection"}},
            "sources": source_hashes,  # sha256 of every source file compiled together
            "abi": c["abi"],
            "bytecode": "0x" + c["evm"]["bytecode"]["object"],
        }
        links = c["evm"]["bytecode"].get("linkReferences") or {}
        if links:  # library name -> byte offsets of its address placeholder in the bytecode (see link_bytecode)
            artifacts[name]["linkReferences"] = {lib: [p["start"] for p in places]
                                                 for refs in links.values() for lib, places in refs.items()}
    return artifacts


def _dump(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict] | None = None) -> list[Path]:
    artifacts = artifacts or compile_contracts()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    paths = []
    for name, art in artifacts.items():
        p = ARTIFACTS_DIR / f"{name}.json"
        p.write_text(_dump(art))
        paths.append(p)
    return paths


def stale_artifacts(artifacts: dict[str, dict] | None = None) -> list[str]:
    """Names whose committed artifact differs from a fresh compile (or is missing)."""
    artifacts = artifacts or compile_contracts()
    stale = []
    for name, art in artifacts.items():
        p = ARTIFACTS_DIR / f"{name}.json"
        if not p.exists() or p.read_text() != _dump(art):
            stale.append(name)
    return stale


_cache: dict[str, dict] = {}


def load_artifact(name: str) -> dict:
    """The committed artifact of ``name`` (abi, bytecode, ...)."""
    if name not in _cache:
        p = ARTIFACTS_DIR / f"{name}.json"
        if not p.exists():
            raise BuildError(f"contract artifact {p.name} missing: run `lpdev chain build-contracts`")
        _cache[name] = json.loads(p.read_text())
    return _cache[name]


def link_bytecode(name: str, libraries: dict[str, str]) -> bytes:
    """Creation bytecode of ``name`` with each linked library's address written over its placeholder
    (``libraries``: library contract name -> address)."""
    art = load_artifact(name)
    code = bytearray(bytes.fromhex(art["bytecode"][2:].replace("__", "00").replace("$", "0"))
                     if "linkReferences" in art else bytes.fromhex(art["bytecode"][2:]))
    for lib, starts in art.get("linkReferences", {}).items():
        try:
            addr = bytes.fromhex(libraries[lib][2:])
        except KeyError:
            raise BuildError(f"{name} links library {lib}: deploy it first and pass its address") from None
        for start in starts:
            code[start:start + 20] = addr
    return bytes(code)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devnet.build", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if contracts_abi/ is stale; write nothing")
    args = ap.parse_args(argv)
    try:
        artifacts = compile_contracts()
        if args.check:
            stale = stale_artifacts(artifacts)
            if stale:
                print(f"stale artifacts: {', '.join(stale)} — run `lpdev chain build-contracts`", file=sys.stderr)
                return 1
            print("contracts_abi/ is up to date")
            return 0
        for p in write_artifacts(artifacts):
            print(f"wrote {os.path.relpath(p, ROOT)}")
        return 0
    except (BuildError, subprocess.TimeoutExpired) as exc:
        print(f"lpdev: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate ``lp_rpc_pb2.py`` and ``lp_rpc_pb2_grpc.py`` from ``lp_rpc.proto`` (docs/wire.md#protobuf-messages).

    python -m sim.wire.regen            # rewrite the generated modules
    python -m sim.wire.regen --check    # exit 1 if regenerating would change them

Uses ``grpc_tools.protoc`` from the running interpreter (grpcio-tools is pinned in the dev extras, so the
output is reproducible). Two fix-ups are applied to protoc's output:

* the descriptors go into a **private descriptor pool** instead of protobuf's default pool. The
  livepeer-gateway SDK ships its own ``lp_rpc_pb2`` that registers the same ``net.*`` names in the
  default pool, and both must load in one process (the SDK tests share the pytest process);
* the gRPC module imports ``from sim.wire import lp_rpc_pb2`` instead of a top-level ``lp_rpc_pb2``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "lp_rpc.proto"
OUTPUTS = ("lp_rpc_pb2.py", "lp_rpc_pb2_grpc.py")

_POOL_DEFAULT = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_POOL_PRIVATE = (
    "# lpdev: a private pool, so this module and the livepeer-gateway SDK's lp_rpc_pb2 (same `net.*`\n"
    "# names, default pool) can be imported in the same process. Written by sim/wire/regen.py.\n"
    "POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = POOL.AddSerializedFile("
)
_GRPC_IMPORT = "import lp_rpc_pb2 as lp__rpc__pb2"
_GRPC_IMPORT_FIXED = "from sim.wire import lp_rpc_pb2 as lp__rpc__pb2"


class RegenError(RuntimeError):
    pass


def _fix_pb2(text: str) -> str:
    if text.count(_POOL_DEFAULT) != 1:
        raise RegenError("protoc output changed shape: default-pool AddSerializedFile line not found once")
    return text.replace(_POOL_DEFAULT, _POOL_PRIVATE)


def _fix_grpc(text: str) -> str:
    if text.count(_GRPC_IMPORT) != 1:
        raise RegenError("protoc output changed shape: `import lp_rpc_pb2` line not found once")
    return text.replace(_GRPC_IMPORT, _GRPC_IMPORT_FIXED)


def generate() -> dict[str, str]:
    """Run protoc on the .proto beside this file; return {file name: fixed-up source}."""
    with tempfile.TemporaryDirectory(prefix="lpdev-regen-") as out:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"--python_out={out}",
               f"--grpc_python_out={out}", str(HERE / PROTO)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RegenError(f"protoc failed: {proc.stderr.strip() or proc.stdout.strip()}")
        pb2 = (Path(out) / OUTPUTS[0]).read_text()
        grpc_ = (Path(out) / OUTPUTS[1]).read_text()
    return {OUTPUTS[0]: _fix_pb2(pb2), OUTPUTS[1]: _fix_grpc(grpc_)}


def stale(generated: dict[str, str]) -> list[str]:
    """Names of the committed modules that differ from ``generated``."""
    out = []
    for name, text in generated.items():
        path = HERE / name
        if not path.exists() or path.read_text() != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.wire.regen", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the generated modules are out of date")
    args = ap.parse_args(argv)
    try:
        generated = generate()
    except RegenError as exc:
        print(f"regen: {exc}", file=sys.stderr)
        return 2
    changed = stale(generated)
    if args.check:
        if changed:
            print(f"regen: out of date: {', '.join(changed)} (run python -m sim.wire.regen)", file=sys.stderr)
            return 1
        print("regen: generated modules are up to date")
        return 0
    for name in changed:
        (HERE / name).write_text(generated[name])
        print(f"regen: wrote sim/wire/{name}")
    if not changed:
        print("regen: nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""File helpers for the stack's own documents (the cast, the registry of running stacks)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, doc: dict, *, fsync: bool = False) -> None:
    """Write JSON to a temp file in the same directory, then rename: readers never see a partial file.
    ``fsync``: the bytes are on disk before the rename (a state that must survive a crash)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

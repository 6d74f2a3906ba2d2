"""Running stacks, findable from any shell: each ``lpdev up`` registers its cast (name, pid, folder, URLs, data dir)
in one per-user folder, so ``lpdev ps`` lists them and ``lpdev token`` (or ``--stack NAME``) finds the right one
from any directory. Two stacks never share an entry: each has its own name.

The folder is ``$LPDEV_STATE_DIR`` if set, else ``$XDG_STATE_HOME/lpdev`` (``~/.local/state/lpdev``); entries of
processes that are gone (a ``kill -9``) are ignored and swept.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

__all__ = ["RegistryError", "registry_dir", "register", "unregister", "running", "pick", "free_name"]


class RegistryError(LookupError):
    """No stack by that name, none running, or several to choose from; the message says what to do."""


def registry_dir() -> Path:
    base = os.environ.get("LPDEV_STATE_DIR")
    if base:
        return Path(base) / "stacks"
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "lpdev" / "stacks"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _entries() -> list[tuple[Path, dict]]:
    d = registry_dir()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("pid"), int) and isinstance(doc.get("name"), str):
            out.append((p, doc))
    return out


def running() -> list[dict]:
    """The casts of the stacks whose process is alive, oldest first; dead entries are removed."""
    out = []
    for p, doc in _entries():
        if _alive(doc["pid"]):
            out.append(doc)
        else:
            try:
                p.unlink()
            except OSError:
                pass
    return sorted(out, key=lambda d: d.get("started_at", 0))


def free_name(folder: str | Path) -> str:
    """A name for a new stack: the folder's name, then ``NAME-2``, ``NAME-3``, ... while one is taken."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(folder).resolve().name).strip("-") or "lpdev"
    taken = {d["name"] for d in running()}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def register(doc: dict) -> Path:
    """Record a running stack's cast (it must hold ``name`` and ``pid``); returns the entry's path."""
    from stack.files import write_atomic

    name = doc["name"]
    for other in running():
        if other["name"] == name and other["pid"] != doc["pid"]:
            raise RegistryError(f"a stack named {name!r} is already running (pid {other['pid']}, in "
                                f"{other.get('cwd', '?')}); choose another --name")
    path = registry_dir() / f"{name}.json"
    write_atomic(path, doc)
    return path


def unregister(name: str, pid: int) -> None:
    path = registry_dir() / f"{name}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if doc.get("pid") == pid:
        try:
            path.unlink()
        except OSError:
            pass


def pick(name: str | None = None) -> dict:
    """The cast of stack ``name``, or of the only running stack."""
    stacks = running()
    if name:
        for d in stacks:
            if d["name"] == name:
                return d
        have = ", ".join(d["name"] for d in stacks) or "none"
        raise RegistryError(f"no running stack named {name!r} (running: {have}; `lpdev ps` lists them)")
    if len(stacks) == 1:
        return stacks[0]
    if not stacks:
        raise RegistryError("no lpdev stack is running: start one with `lpdev up` (or pass --config FILE)")
    raise RegistryError("several stacks are running: " + ", ".join(f"{d['name']} (in {d.get('cwd', '?')})"
                                                                  for d in stacks)
                        + "; choose one with --stack NAME")

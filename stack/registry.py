"""Running stacks, findable from any shell: each ``lpdev up`` registers its cast (name, pid, folder, URLs, data dir)
in one per-user folder, so ``lpdev ps`` lists them and ``lpdev token`` (or ``--stack NAME``) finds the right one
from any directory. Two stacks never share an entry: each has its own name.

The folder is ``$LPDEV_STATE_DIR`` if set, else ``$XDG_STATE_HOME/lpdev`` (``~/.local/state/lpdev``); entries of
processes that are gone (a ``kill -9``) are ignored and swept.
"""
from __future__ import annotations

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
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:  # 0 / -1 would ask about process groups
        return False
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


def _read_entry(path: Path):
    """A registry file through the bounded parser (they are plain files anyone can write); None if unreadable."""
    from sim.wire import bounded

    try:
        return bounded.load_json_file(path)
    except (bounded.BoundedInputError, OSError):
        return None


def _entries() -> list[tuple[Path, dict]]:
    d = registry_dir()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        doc = _read_entry(p)
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


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """A stack name names a file in the registry and the default data dir: letters, digits, ``_ . -``, at most 64,
    not starting with a dot or a dash. Returns it, or raises ValueError saying so."""
    if not NAME_RE.fullmatch(name or ""):
        raise ValueError(f"stack name {name[:80]!r}: use letters, digits and _ . - (at most 64, starting with a "
                         "letter or digit)")
    return name


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
    doc = _read_entry(path)
    if isinstance(doc, dict) and doc.get("pid") == pid:
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

"""No reference in the repository points to a document that is not in it (issue 16, "Done when").

Users have lpdev's own guide in docs/, not the research notes it was built from: every ``something.md`` named in a
file of this repository must be a file of this repository, and a ``docs/x.md#anchor`` must name a heading of that
page. What people read — the README, docs/, every ``--help``, the TUI and its walkthroughs, the scenario library, the
signer's OpenAPI description, ``lpdev signer --list-profiles`` and the conformance cases' references — must not cite
bare section numbers (``§3.7``) either: those belonged to documents users do not have.

References to another project's file say whose it is (``go-livepeer trickle/README.md``) and are not checked; URLs
are not checked.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REF = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.md)(#[\w-]+)?(?![\w-])")
EXTERNAL = re.compile(r"(://|go-livepeer|livepeer/|livepeer-python-gateway)[^\n]{0,12}$")
SECTION = re.compile(r"§\s?\d")



def repo_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        names = sorted(set(out.splitlines()))
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk it
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and not any(part in (".git", ".venv", "node_modules") for part in p.parts)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def slug(heading: str) -> str:
    """A Markdown heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    text = text_of(md) or ""
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def missing_references(path: Path, text: str) -> list[str]:
    """The references in ``text`` (the content of ``path``) to documents or anchors that do not exist."""
    out = []
    for m in REF.finditer(text):
        ref, anchor = m.group(1), m.group(2)
        if EXTERNAL.search(text[max(0, m.start() - 40):m.start()]):
            continue
        target = next((c for c in (path.parent / ref, ROOT / ref) if c.is_file()), None)
        if target is None:
            out.append(ref)
        elif anchor and anchor[1:] not in anchors(target):
            out.append(ref + anchor)
    return out


# Not checked: rendered screens (an SVG splits text across elements) and this file's own examples.
SKIP = ("tests/__snapshots__/", "tests/test_docs_references.py")


def all_missing() -> dict[str, list[str]]:
    found = {}
    for path in repo_files():
        if str(path.relative_to(ROOT)).startswith(SKIP):
            continue
        text = text_of(path)
        if text is None:
            continue
        bad = missing_references(path, text)
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_no_reference_to_a_document_that_is_not_in_the_repository():
    found = all_missing()
    assert not found, "references to documents not in the repository (point them at a docs/ section):\n" + "\n".join(
        f"{f}: {', '.join(sorted(set(refs)))}" for f, refs in sorted(found.items()))


def test_docs_links_resolve_to_headings():
    """Every link inside docs/ resolves, anchors included, and every page is reachable from docs/README.md."""
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert docs, "docs/ holds lpdev's guide"
    for page in docs:
        text = text_of(page)
        for m in re.finditer(r"\]\(([^)#\s]*)(#[^)\s]+)?\)", text):
            target, anchor = m.group(1), m.group(2)
            if target.startswith(("http://", "https://")):
                continue
            dest = (page.parent / target) if target else page
            assert dest.is_file(), f"{page.name}: link to missing {target}"
            if anchor:
                assert anchor[1:] in anchors(dest), f"{page.name}: {target}{anchor} names no heading"
    index = text_of(ROOT / "docs" / "README.md")
    for page in docs:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


def _help_texts() -> dict[str, tuple[str, str]]:
    """``lpdev …`` -> (its --help text, the file that defines it)."""
    import argparse
    import inspect

    from lpdev.cli import build_parser

    out = {}

    def walk(p: argparse.ArgumentParser, path: list[str], owner: str) -> None:
        out[" ".join(path)] = (p.format_help(), owner)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, child in a.choices.items():
                    func = child._defaults.get("func")
                    src = inspect.getsourcefile(func) if func is not None and len(path) == 1 else None
                    walk(child, path + [name], str(Path(src).relative_to(ROOT)) if src else owner)

    walk(build_parser(), ["lpdev"], "lpdev/cli.py")
    return out


def test_what_people_read_cites_no_bare_section_numbers():
    readable = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    readable += sorted((ROOT / "tui").rglob("*.py"))
    readable += [ROOT / "tui" / "lpdev.tcss", *sorted((ROOT / "tui").rglob("*.html"))]
    readable += sorted((ROOT / "scenarios").rglob("*.yaml")) + [ROOT / "sim" / "signer" / "openapi.yaml"]
    bad = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in readable
           for m in SECTION.finditer(text_of(p) or "")]
    for cmd, (text, owner) in _help_texts().items():
        bad += [f"`{cmd} --help` ({owner}): {m.group(0)!r}" for m in SECTION.finditer(text)]
    from sim.signer.conformance import CASES
    from sim.signer.profiles import PROFILES, profile_table

    for name, prof in PROFILES.items():  # `lpdev signer --list-profiles`
        bad += [f"profile {name}: {m.group(0)!r}" for m in SECTION.finditer(profile_table(prof))]
    for c in CASES:  # `lpdev conformance --json`
        bad += [f"conformance case {c.name!r}: {m.group(0)!r}" for m in SECTION.finditer(c.ref)]
    assert not bad, "bare section numbers of documents users do not have:\n" + "\n".join(bad)


@pytest.mark.parametrize("text, missing", [
    ("see design-notes.md §3.7", ["design-notes.md"]),
    ("(docs/tickets.md#nonces)", []),
    ("(docs/tickets.md#no-such-heading)", ["docs/tickets.md#no-such-heading"]),
    ("go-livepeer ``trickle/README.md``", []),
    ("https://example.org/x/design-notes.md", []),
    ("README.md", []),
])
def test_the_reference_check_itself(text, missing):
    assert missing_references(ROOT / "lpdev" / "cli.py", text) == missing

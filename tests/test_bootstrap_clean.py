"""`make` on a fresh clone leaves the clone as it was and says nothing alarming (issue 16, item 4), and
`make bench` runs benchmarks that exist (item 9).

- The npm half of the bootstrap is run for real (the Makefile's own recipe, `npm ci`) in a throwaway git
  repository holding the Makefile, .gitignore and devnet/tools/package*.json: afterwards `git status` is empty,
  so the lock file is complete for every platform and nothing rewrites it.
- The Python half: pyproject.toml goes through setuptools (metadata and an editable wheel, as `pip install -e`
  does) with every warning turned into an error, and pip's own metadata step prints no warning.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _git(cwd: Path, *args: str) -> str:
    r = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.slow
def test_npm_bootstrap_leaves_git_status_clean(tmp_path):
    if shutil.which("npm") is None or shutil.which("make") is None:
        pytest.fail("npm and make are bootstrap requirements (README: Python 3.11+, Node.js/npm, make)")
    for rel in ("Makefile", ".gitignore", "devnet/tools/package.json", "devnet/tools/package-lock.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "fresh clone")
    r = subprocess.run(["make", "devnet/tools/node_modules/.lpdev-installed"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "npm ci" in r.stdout  # the lock decides; `npm install` would rewrite it
    assert (tmp_path / "devnet/tools/node_modules/@foundry-rs/anvil/package.json").exists()
    assert _git(tmp_path, "status", "--porcelain") == ""


def test_lock_file_matches_package_json():
    pkg = json.loads((ROOT / "devnet/tools/package.json").read_text())
    lock = json.loads((ROOT / "devnet/tools/package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"]
    for name, version in pkg["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
        # every optional platform package the pinned one names is in the lock (npm install added them before)
        for dep in lock["packages"][f"node_modules/{name}"].get("optionalDependencies", {}):
            assert f"node_modules/{dep}" in lock["packages"], dep


def test_pyproject_builds_without_setuptools_warnings(tmp_path):
    code = ("import warnings, sys; warnings.simplefilter('error'); import setuptools.build_meta as b; "
            "d = sys.argv[1]; b.prepare_metadata_for_build_editable(d); print(b.build_editable(d))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Warning" not in r.stderr, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1].endswith(".whl")


def test_pip_metadata_step_prints_no_warning():
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "-q",
                        "--disable-pip-version-check", "-e", "."], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # pip's own notes about the machine's index configuration are not ours; the build backend's are
    ours = [ln for ln in (r.stdout + r.stderr).splitlines() if "Warning" in ln or "deprecated" in ln]
    assert ours == []


def test_make_bench_runs_lpdev_bench_all():
    keep = [".venv/.lpdev-installed", "devnet/tools/node_modules/.lpdev-installed", "chromium"]
    r = subprocess.run(["make", "-n", *sum((["-o", k] for k in keep), []), "bench"], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [".venv/bin/lpdev", "bench", "all"]


def test_bootstrap_installs_debians_chromium_when_missing():
    """The web TUI's browser test needs /usr/bin/chromium: `make test` installs Debian's package when it is not
    there (and never downloads a browser build)."""
    r = subprocess.run(["make", "-n", "chromium"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "command -v chromium" in r.stdout and "apt-get install -y -qq chromium" in r.stdout
    def recipe(target: str) -> str:
        return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout

    assert "apt-get install" in recipe("test")  # `make test` needs the browser ...
    assert "apt-get install" not in recipe("up")  # ... `make up` never asks for root to install one


def test_bench_all_runs_each_benchmark_and_summarises():
    r = subprocess.run([sys.executable, "-m", "lpdev", "bench", "all", "--only", "tui"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert "== lpdev bench tui" in out and "seek to end of" in out  # the benchmark's own report
    summary = out.split("== summary", 1)[1].splitlines()
    row = next(ln for ln in summary if ln.strip().startswith("tui"))
    verdict = row.split()[1]
    assert verdict in ("ok", "MISSED") and r.returncode == (0 if verdict == "ok" else 1)
    # the count follows the verdict (and the verdict the benchmark's own report of its targets)
    assert f"{1 if verdict == 'ok' else 0}/1 met their targets" in out
    report = out.split("== summary")[0]
    assert ("(target < 1.0 s) OK" in report) is (verdict == "ok"), report


def test_bench_all_json_and_bad_names(capsys):
    from lpdev.cli import main

    assert main(["bench", "all", "--only", "tui,nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "unknown benchmark nosuch" in err and "tickets" in err
    # every registered benchmark is one `all` would run
    from lpdev.commands.bench import _bench_names, _selected

    assert _selected(None) == sorted(_bench_names()) and "tickets" in _selected(None)

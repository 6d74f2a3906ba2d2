"""Suite-wide settings.

* Running stacks register in a per-test-run folder, never in the user's own registry (stack/registry.py), so
  `lpdev ps` on the machine is not filled by the tests and the tests do not see the user's stacks.
* The tests that run `make -n` see make's own output, not "Entering directory" lines: the suite itself runs under
  `make test`, whose variables would make every inner make a sub-make.
* Ctrl-C reaches the commands the tests interrupt even when the suite was started in the background (a shell
  starts background jobs with SIGINT ignored, and a child inherits an ignored signal; a handled one is reset).
"""
from __future__ import annotations

import os
import signal

import pytest

for _var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
    os.environ.pop(_var, None)

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _private_stack_registry(tmp_path_factory):
    os.environ["LPDEV_STATE_DIR"] = str(tmp_path_factory.mktemp("lpdev-state"))
    yield

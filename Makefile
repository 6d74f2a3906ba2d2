# lpdev — two commands do all set-up:  `make up` (run the local stack)  and  `make test` (run the tests).
# Both bootstrap from nothing: a .venv with lpdev and its dev extras, the pinned livepeer-gateway SDK
# (test-only, see README), and the pinned npm tools (anvil, solc-js) in devnet/tools/node_modules.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYSTAMP  := $(VENV)/.lpdev-installed
NPMSTAMP := devnet/tools/node_modules/.lpdev-installed
# The SDK 1.0.0 declares Python >= 3.12 but runs on 3.11; av 16 is the newest release with a 3.11 wheel.
SDK_PIN := livepeer-gateway==1.0.0
AV_PIN  := av>=16,<17

.PHONY: up test bootstrap bench clean-venv
up: bootstrap
	$(VENV)/bin/lpdev up $(ARGS)

test: bootstrap
	$(VENV)/bin/python -m pytest -q -n 2 $(ARGS)

bench: bootstrap
	$(VENV)/bin/lpdev bench all $(ARGS)

bootstrap: $(PYSTAMP) $(NPMSTAMP)

$(PYSTAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt --only-binary=av '$(AV_PIN)'
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt --ignore-requires-python '$(SDK_PIN)'
	touch $@

$(NPMSTAMP): devnet/tools/package.json devnet/tools/package-lock.json
	cd devnet/tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean-venv:
	rm -rf $(VENV) devnet/tools/node_modules

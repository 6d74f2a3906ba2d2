# lpdev — two commands do all set-up:  `make up` (run the local stack)  and  `make test` (run the tests).
# Both bootstrap from nothing: a .venv with lpdev and its dev extras, the pinned livepeer-gateway SDK
# (test-only, see README), the pinned npm tools (anvil, solc-js) in devnet/tools/node_modules; `make test` also
# Debian's chromium when it is missing (the browser tests/test_tui_web.py drives; never a downloaded browser build).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYSTAMP  := $(VENV)/.lpdev-installed
NPMSTAMP := devnet/tools/node_modules/.lpdev-installed
# The SDK 1.0.0 declares Python >= 3.12 but runs on 3.11; av 16 is the newest release with a 3.11 wheel.
SDK_PIN := livepeer-gateway==1.0.0
AV_PIN  := av>=16,<17
# The SDK's sdist (its examples/, run unmodified by tests/test_runner_sdk_examples.py), unpacked in a git-ignored
# folder; never committed.
SDK_DIR  := .sdk
SDK_SRC  := $(SDK_DIR)/livepeer_gateway-1.0.0
SDKSTAMP := $(SDK_SRC)/.lpdev-unpacked

.PHONY: up test bootstrap bench clean-venv chromium
up: bootstrap
	$(VENV)/bin/lpdev up $(ARGS)

test: bootstrap chromium
	$(VENV)/bin/python -m pytest -q -n 2 $(ARGS)

bench: bootstrap
	$(VENV)/bin/lpdev bench all $(ARGS)

bootstrap: $(PYSTAMP) $(NPMSTAMP) $(SDKSTAMP)

# `lpdev tui --web` is tested in a real headless browser, so `make test` installs one. That needs apt (as root, or
# sudo without a password prompt); where that is not possible it goes on and only that test fails, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (the browser tests/test_tui_web.py drives)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || echo "warning: could not install chromium (apt-get install -y chromium); tests/test_tui_web.py needs it"; }

$(PYSTAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt --only-binary=av '$(AV_PIN)'
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt --ignore-requires-python '$(SDK_PIN)'
	touch $@

$(SDKSTAMP): | $(PYSTAMP)
	mkdir -p $(SDK_DIR)
	$(PY) -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: --ignore-requires-python \
		-d $(SDK_DIR) '$(SDK_PIN)'
	tar -xzf $(SDK_DIR)/livepeer_gateway-1.0.0.tar.gz -C $(SDK_DIR)
	touch $@

$(NPMSTAMP): devnet/tools/package.json devnet/tools/package-lock.json
	cd devnet/tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean-venv:
	rm -rf $(VENV) devnet/tools/node_modules $(SDK_DIR)

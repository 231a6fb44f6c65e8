# hastack — every target installs what it needs (a .venv with the pinned requirements) by itself.
SHELL := /bin/bash
STACK ?= prod
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HASTACK := $(VENV)/bin/hastack
STAMP := $(VENV)/.installed
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
# This checkout, editable: `.venv/bin/hastack` imports the files you edit, never a stale copy.
INSTALL_PROJECT := $(PIP_INSTALL) --no-deps --no-build-isolation --editable .

.PHONY: demo plan policy policy-config test lint bench clean venv

# The pinned requirements, then the project itself; again whenever requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP_INSTALL) -r requirements.txt
	@$(INSTALL_PROJECT)
	@touch $(STAMP)

# Every target runs this: when the installed `hastack` is not this checkout's (a regular `pip install .`
# left a copy in site-packages, or the checkout moved), the checkout is installed again, editable.
venv: $(STAMP)
	@$(PY) -I -c 'import hastack, pathlib, sys; sys.exit(pathlib.Path(hastack.__file__).resolve().parent != pathlib.Path("hastack").resolve())' \
		|| { echo "make: .venv/bin/hastack ran another copy of hastack: installing this checkout (editable)"; $(INSTALL_PROJECT); }

## demo: the whole story on an embedded moto AWS (no account): plan, policy check, local up, regional
## failover drill (real DR command, AWS latency model), one summary ending with RTO/RPO and the picture
demo: venv
	$(HASTACK) local demo --stack $(STACK)

## plan: render the stack offline (mock runtime) -> build/plan-$(STACK).json, manifests, outputs
plan: venv
	$(HASTACK) plan --stack $(STACK)
	$(HASTACK) policy check build/plan-$(STACK).json

## policy: render the plan, then run the policy pack on it (offline, over the engine's gRPC protocol) with
## the policy config derived from Pulumi.$(STACK).yaml on every run
policy: venv
	$(HASTACK) plan --stack $(STACK) --quiet
	$(HASTACK) policy check build/plan-$(STACK).json

## policy-config: the pack's config for the Pulumi CLI, derived from Pulumi.$(STACK).yaml ->
## build/policy-config-$(STACK).json (pass it as `pulumi preview --policy-pack policies --policy-pack-config`)
policy-config: venv
	$(HASTACK) policy config --stack $(STACK) --output build/policy-config-$(STACK).json

## test: the whole test suite (what CI runs)
test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 tests

lint: venv
	$(PY) -m ruff check .

## bench: performance figures (median of several runs)
bench: venv
	$(PY) benchmarks/run.py

clean:
	rm -rf build

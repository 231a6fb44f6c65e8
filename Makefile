# hastack — every target installs what it needs (a .venv with the pinned requirements) by itself.
SHELL := /bin/bash
STACK ?= prod
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HASTACK := $(PY) -m hastack
STAMP := $(VENV)/.installed

.PHONY: demo plan policy policy-config test lint bench clean venv

# Re-install only when requirements.txt changed since the last install.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

## demo: the whole story on an embedded moto AWS (no account): plan, policy check, local up, regional
## failover drill (real DR command, AWS latency model), one summary ending with RTO/RPO and the picture
demo: $(STAMP)
	$(HASTACK) local demo --stack $(STACK)

## plan: render the stack offline (mock runtime) -> build/plan-$(STACK).json, manifests, outputs
plan: $(STAMP)
	$(HASTACK) plan --stack $(STACK)
	$(HASTACK) policy check build/plan-$(STACK).json

## policy: render the plan, then run the policy pack on it (offline, over the engine's gRPC protocol) with
## the policy config derived from Pulumi.$(STACK).yaml on every run
policy: $(STAMP)
	$(HASTACK) plan --stack $(STACK) --quiet
	$(HASTACK) policy check build/plan-$(STACK).json

## policy-config: the pack's config for the Pulumi CLI, derived from Pulumi.$(STACK).yaml ->
## build/policy-config-$(STACK).json (pass it as `pulumi preview --policy-pack policies --policy-pack-config`)
policy-config: $(STAMP)
	$(HASTACK) policy config --stack $(STACK) --output build/policy-config-$(STACK).json

## test: the whole test suite (what CI runs)
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 tests

lint: $(STAMP)
	$(PY) -m ruff check .

## bench: performance figures (median of several runs)
bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf build

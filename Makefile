# Every target creates .venv itself from pyproject.toml; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RACK   ?= racks/sim-6.toml

.PHONY: nightly gate weekend soak test bench rack-time plan lint clean report doctor sweep

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		|| { echo "rig needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## nightly: the nightly tier (every plan but the eight-hour soak) against RACK (default: the simulated six-unit
## rack), in a run folder of its own: reports/runs/<start time>/ (junit.xml, allure-results/, traces/, run.log,
## run.json); reports/latest points to it
## COMMISSIONING=operator commissions every network as a production rack does (an operator's steps in Tesla One,
## confirmed; on a simulated rack the simulated operator answers), in place of the rack file's method
nightly: $(STAMP)
	$(BIN)/pytest testplans --rack $(RACK) --tier nightly -q $(if $(COMMISSIONING),--commissioning $(COMMISSIONING))

## gate: the release gate's tier (every seed promise once, six-unit cases first, at most an hour of rack time),
## judged by `rig gate` (exit 0 pass, 1 fail, 2 incomplete); FIRMWARE is the build's manifest
FIRMWARE ?= firmware_under_test/manifests/reference.toml
gate: $(STAMP)
	$(BIN)/rig gate --tier gate --firmware $(FIRMWARE) --rack $(RACK)

## weekend: everything: the eight-hour soak, the full campaign (300 scenarios), every seed of the randomised plans
weekend: $(STAMP)
	$(BIN)/pytest testplans --rack $(RACK) --tier weekend -q

## soak: the eight-hour soak alone, for a rack of its own while the others run the nightly
soak: $(STAMP)
	$(BIN)/pytest testplans --rack $(RACK) --tier soak -q

## plan: what a tier (TIER, default nightly) runs on RACK, its rack time and a real rack's estimate (no hardware)
TIER ?= nightly
plan: $(STAMP)
	$(BIN)/rig plan --tier $(TIER) --rack $(RACK)

## rack-time: measure every test's rack time on the simulated rack (the weekend tier) into testplans/rack_time.json
rack-time: $(STAMP)
	$(BIN)/rig plan --tier weekend --measure --save

## test: the rig's own tests, lint included; three pytest-xdist workers, one test file each at a time. Most tests
## run a plan in a subprocess and some wait in real time (signals, the labgrid coordinator), so on two cores a
## third worker fills the time the other two wait: measured 244 s with two workers, 201 s with three, 211 s with four
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest tests -q -n 3 --dist loadfile

## sweep: the nightly tier against every correct firmware model other than the reference (each in its own run
## folder); every one must pass, since the checks judge promises, not one model's policy or timing. `make test`
## runs each of them only on the plans where it differs from the reference (tests/teeth.py); this is the whole tier
CORRECT_MODELS ?= correct:EightBitPwm correct:SlowButInBudget correct:EagerFallback correct:WholeAmpsDown \
	alternatives:ProportionalSharing alternatives:FirstComeFirstServed alternatives:StrictQueue
sweep: $(STAMP)
	@status=0; for m in $(CORRECT_MODELS); do echo "== $$m"; \
		$(BIN)/pytest testplans --rack $(RACK) --tier nightly -q --firmware-model firmware_under_test.models.$$m \
			|| status=1; done; exit $$status

## report: the latest run as one self-contained HTML file (reports/latest/html/index.html), with the history of
## earlier runs; a run that ended early says so; installs the pinned Allure 3 itself (npm ci, from the lock file)
report: $(STAMP)
	$(BIN)/python -m rig.report

## doctor: check that every instrument and unit of RACK answers, is what the rack file says, and is safe
doctor: $(STAMP)
	$(BIN)/rig doctor --rack $(RACK)

## bench: speed and memory figures, printed as `name: value` lines
bench: $(STAMP)
	$(BIN)/python -m rig.bench --rack $(RACK)

lint: $(STAMP)
	$(BIN)/ruff check .

## clean: the venv and everything runs wrote (every run folder too)
clean:
	rm -rf $(VENV) reports/runs reports/latest reports/history.jsonl reports/node_modules \
		reports/gate reports/gate.json reports/gate.txt

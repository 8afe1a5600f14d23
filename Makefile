# Two commands matter: `make demo` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test screenshots lint typecheck check venv migrate serve serve-prod worker beat clean bench messages translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: SQLite, tasks in-process. A simulated 210-participant trial (therabot-sim) run through the
## platform and analysed; the reference trial (therabot) open for recruitment; demo accounts; the server.
SIM_ARGS ?= --participants 210 --seed 1
demo: $(STAMP) translations
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py load_trial_template therabot-demo --open --replace || \
	  echo "(the therabot trial already exists and is recruiting; keeping it)"
	@mkdir -p var/reports
	@echo "Simulating the trial (a few minutes; its e-mails go to var/mail/, its log to var/simulation.log) ..."
	DEBUG=1 EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend \
	  $(BIN)/python manage.py simulate_trial --trial therabot-sim $(SIM_ARGS) --lock --skip-existing 2>var/simulation.log
	DEBUG=1 $(BIN)/python manage.py analyze --trial therabot-sim --unblinded \
	  --json var/reports/therabot-sim.json --html var/reports/therabot-sim.html --figures var/reports/figures
	DEBUG=1 $(BIN)/python manage.py analyze --trial therabot-sim \
	  --json var/reports/therabot-sim-open.json --html var/reports/therabot-sim-open.html
	DEBUG=1 $(BIN)/python manage.py simulation_summary --json var/reports/therabot-sim.json
	@echo "Reports: var/reports/therabot-sim.html (DSMB closed session, unblinded),"
	@echo "         var/reports/therabot-sim-open.html (DSMB open session, blinded: A/B and pooled);"
	@echo "         figures as SVG, PNG and PDF in var/reports/figures/"
	@echo ""
	DEBUG=1 $(BIN)/python manage.py demo_accounts --trial therabot,therabot-sim
	@echo ""
	DEBUG=1 PUBLIC_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py demo_participant --trial therabot
	@echo ""
	@echo "Workspace:  http://$(HOST):$(PORT)/workspace/  (sign in as "coordinator" or "clinician" with a password printed above)"
	@echo "Web admin:  http://$(HOST):$(PORT)/admin/   (trial design and system administration)"
	@echo "Join online: http://$(HOST):$(PORT)/join/therabot/  (screening, e-consent, e-mail verification; English or Spanish)"
	@echo "API docs:   http://$(HOST):$(PORT)/api/docs/ (log in at /admin/ first; scripts: Authorization: Token <token>)"
	@echo ""
	DEBUG=1 PUBLIC_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: the whole suite; on PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set.
test: $(STAMP) translations
	$(BIN)/pytest

## screenshots: the browser tests, keeping the screenshots the docs show (docs/screenshots/).
screenshots: $(STAMP)
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q -m browser tests/workspace tests/assessments/test_browser.py

## messages: gather the translatable strings of the code and templates into each shipped language's catalogue
## (config/locale/<lang>/LC_MESSAGES/django.po), then compile. Translate what comes out empty; docs/operator.md,
## "Adding a language". tests/test_translations.py fails while a string is missing or untranslated.
MESSAGE_LANGUAGES ?= es
MAKEMESSAGES_IGNORE := --ignore '.venv/*' --ignore 'var/*' --ignore 'build/*' --ignore 'tests/*' --ignore 'bench/*'
messages: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py makemessages $(foreach lang,$(MESSAGE_LANGUAGES),--locale $(lang)) \
	  --add-location file --no-obsolete $(MAKEMESSAGES_IGNORE)
	$(MAKE) translations

## translations: compile the catalogues (.po -> .mo; the .mo files are built, never committed). Needs gettext (msgfmt).
translations: $(STAMP)
	@command -v msgfmt >/dev/null || { echo "translations: install gettext (msgfmt), e.g. apt-get install gettext" >&2; exit 2; }
	@# Without settings (no SECRET_KEY needed, nothing written to var/): it finds the project's locale/ folders.
	env -u DJANGO_SETTINGS_MODULE $(BIN)/django-admin compilemessages --ignore '.venv/*' --ignore 'var/*' --ignore 'build/*'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	TESTING=1 $(BIN)/mypy .

check: lint typecheck test

## bench: the benchmark suite on PostgreSQL and Redis (database trial_bench, Redis db 15; never part of `make test`).
## Options in BENCH_ARGS (default sizes 10000,30000,100000); figures in docs/PERFORMANCE.md, last run in bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## serve-prod: the production processes on one machine (Procfile: gunicorn, Celery worker and beat, run by
## honcho), with the settings from the environment: SECRET_KEY, DATABASE_URL and REDIS_URL at least
## (docs/operator.md). The web process listens on HOST:PORT (default 127.0.0.1:8000).
serve-prod: $(STAMP) translations
	@missing=""; for name in SECRET_KEY DATABASE_URL REDIS_URL; do \
	  [ -n "$$(printenv $$name)" ] || missing="$$missing $$name"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "serve-prod: set$$missing in the environment (docs/operator.md, Production)." >&2; exit 2; fi
	DEBUG=0 $(BIN)/python manage.py migrate --noinput
	DEBUG=0 $(BIN)/python manage.py collectstatic --noinput
	DEBUG=0 PATH="$(abspath $(BIN)):$$PATH" BIND=$(HOST) $(BIN)/honcho start -f Procfile -p $(PORT)

worker: $(STAMP)
	$(BIN)/celery -A config worker --loglevel=info

beat: $(STAMP)
	$(BIN)/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

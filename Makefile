# Every target that runs project code depends on `setup`, which is cheap when
# nothing changed (see scripts/setup.sh), so a fresh clone needs only `make test`.

VENV := .venv
BIN  := $(VENV)/bin

.PHONY: setup test lint demo clean

setup:
	bash scripts/setup.sh

# Extra pytest arguments: make test ARGS="-k registry -x"
test: setup
	bash scripts/test.sh $(ARGS)

lint: setup
	$(BIN)/ruff check skewless tests
	$(BIN)/mypy

# The news feed end to end on embedded defaults; prints the report's path (reports/demo-*.html).
demo: setup
	$(BIN)/skewless demo $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

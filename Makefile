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

# TODO: becomes `$(BIN)/skewless demo` once that command exists.
demo: setup
	$(BIN)/skewless --help
	cd examples/newsfeed && ../../$(BIN)/skewless apply && ../../$(BIN)/skewless describe ranker

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

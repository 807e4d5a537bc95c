#!/usr/bin/env bash
# The full check CI runs: lint, type-check, then the test suite against real
# servers. Extra arguments go to pytest (e.g. `scripts/test.sh -k registry -x`).
# Expects scripts/setup.sh to have run (`make test` does that first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"

# Lint only the directories that exist yet (bench/ and examples/ come later);
# ruff errors out on a missing path.
lint_dirs=()
for dir in skewless tests bench examples; do
    [ -d "$dir" ] && lint_dirs+=("$dir")
done
echo "==> ruff check ${lint_dirs[*]}"
"$BIN/ruff" check "${lint_dirs[@]}"

echo "==> mypy"
"$BIN/mypy"

# A missing postgres/redis binary must fail the run, not quietly skip every
# integration test (see tests/conftest.py).
export SKEWLESS_REQUIRE_SERVERS=1

echo "==> pytest $*"
status=0
"$BIN/pytest" "$@" || status=$?
if [ "$status" -eq 5 ]; then
    # pytest's "no tests collected": a wrong -k or a broken collection would
    # otherwise look like a green run.
    echo "test.sh: pytest collected no tests (exit 5); treating that as a failure" >&2
    exit 1
fi
exit "$status"

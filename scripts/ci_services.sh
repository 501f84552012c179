#!/usr/bin/env bash
# Install the services the test suite needs (Debian, run as root): PostgreSQL, Redis and
# Chromium.
# Idempotent.
#
# PostgreSQL: the session-store tests start their own throwaway cluster with initdb and
# pg_ctl (see tests/sessions/conftest.py); this script only makes sure the binaries exist.
set -euo pipefail

have_initdb() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1
}

if ! have_initdb; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends postgresql; then
        apt-get update
        apt-get install -y --no-install-recommends postgresql
    fi
fi

# Redis: the scale-out tests (tests/scaleout/conftest.py) start their own redis-server on
# 127.0.0.1 with a free port in a temporary directory; this only installs the binary.
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends redis-server; then
        apt-get update
        apt-get install -y --no-install-recommends redis-server
    fi
fi

# Chromium: the playground's browser tests (tests/server/test_playground_browser.py) drive
# Debian's /usr/bin/chromium headless through Playwright; no browser is downloaded.
if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends chromium; then
        apt-get update
        apt-get install -y --no-install-recommends chromium
    fi
fi

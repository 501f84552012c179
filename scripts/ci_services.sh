#!/usr/bin/env bash
# Install the services the test suite needs (Debian, run as root). Idempotent.
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

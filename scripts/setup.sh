#!/usr/bin/env bash
# Prepare this checkout on a fresh Debian machine: PostgreSQL for the lab's data plane and a
# virtual environment with the project and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Python 3.11 or newer is needed; $("$python" --version 2>&1) found" >&2
    exit 1
fi

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: PostgreSQL server binaries are missing; install Debian's 'postgresql'" \
             "package (sudo apt-get install -y postgresql) and run this again" >&2
        exit 1
    fi
    echo "setup: installing PostgreSQL (Debian package) for the lab"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ready (.venv/bin/invoke --list shows the tasks)"

#!/usr/bin/env bash
# End-to-end test of the production topology without Docker: gunicorn (`movierec serve`, 2
# workers) and `movierec scheduler` on loopback over a real PostgreSQL and Redis, ml-latest-small
# loaded, driven over HTTP like a client, with a scheduler restart in the middle of a refresh.
#
#   scripts/e2e-topology.sh [pytest options...]
#
# Environment (defaults in brackets):
#   MOVIEREC_TEST_DATABASE_URL  an account that may create databases
#                               [postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
#   MOVIEREC_TEST_REDIS_URL     [redis://127.0.0.1:6379/0]
#   MOVIEREC_SHARED_DATA        folder holding ml-latest-small/ [../shared/data]
#   PYTHON                      interpreter with movierec installed
#                               [.venv/bin/python, else python on PATH, else python3]
#
# It creates a throwaway database and a Redis key prefix of its own and removes both at the end;
# every process it starts is stopped, also when it fails. The test itself is
# tests/test_e2e_topology.py: this script only sets the environment and runs it. Unlike a plain
# pytest run, a missing service or data set is a failure here, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python
    elif command -v python >/dev/null; then PYTHON=python  # e.g. an activated virtualenv
    else PYTHON=python3; fi
fi
export MOVIEREC_TEST_DATABASE_URL="${MOVIEREC_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
export MOVIEREC_TEST_REDIS_URL="${MOVIEREC_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export MOVIEREC_E2E_REQUIRED=1

exec "$PYTHON" -m pytest tests/test_e2e_topology.py -v -rA -p no:cacheprovider "$@"

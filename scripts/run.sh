#!/usr/bin/env bash
# Serve the portal on http://127.0.0.1:8000 with a Celery worker (and embedded beat) beside it.
# Without REDIS_URL the worker uses kombu's filesystem broker under var/celery/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin
mkdir -p var
"$PY/celery" -A partnership worker -B --loglevel=INFO --concurrency=2 \
  --schedule=var/celerybeat-schedule >var/celery.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null || true' EXIT INT TERM
echo "Celery worker + beat running (pid $WORKER, log: var/celery.log)"
"$PY/python" manage.py runserver 127.0.0.1:8000

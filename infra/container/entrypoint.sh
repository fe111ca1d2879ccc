#!/bin/sh
# The image's entrypoint: one image, three roles.
#   api        the API under gunicorn (the WSGI adapter over the Chalice app), on $HOST:$PORT
#   worker     the notification worker (SIGTERM finishes the batch in flight)
#   bootstrap  creates the stage's tables and queues if missing (LocalStack, emulator)
# Anything else is run as a command (e.g. `python -m chalicelib.auth.dev_issuer you@example.com`).
set -eu

if [ -z "${STAGE:-}" ]; then
    echo "ekiosk: set STAGE (local, dev or prod)" >&2
    exit 64
fi

role="${1:-api}"
case "$role" in
    api)
        exec gunicorn \
            --config python:chalicelib.runtime.gunicorn_conf \
            --bind "${HOST:-0.0.0.0}:${PORT:-8000}" \
            --worker-tmp-dir "${GUNICORN_TMP_DIR:-/dev/shm}" \
            chalicelib.runtime.wsgi:application
        ;;
    worker)
        exec python -m chalicelib.runtime.worker
        ;;
    bootstrap)
        exec python -m chalicelib.runtime.bootstrap
        ;;
    *)
        exec "$@"
        ;;
esac

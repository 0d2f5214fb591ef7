#!/usr/bin/env bash
# Runs a SQLAlchemy benchmark script in a throw-away virtualenv under benches/target/venv
# (git-ignored), created on first use from PyPI.
#   sqlalchemy/run.sh [bridge] ARGS...   bridge.py (SQLAlchemy, greenlet)
#   sqlalchemy/run.sh orm ARGS...        orm.py (also psycopg[binary] and asyncpg)
# ARGS are passed to the script.
#   SQLALCHEMY_SPEC / GREENLET_SPEC / PSYCOPG_SPEC / ASYNCPG_SPEC  pip specs (default: latest)
#   PYTHON                            interpreter that creates the venv (default: python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../target/venv"
script=bridge.py
case "${1:-}" in
    bridge) shift ;;
    orm) script=orm.py; shift ;;
esac
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$here/../target"
    "${PYTHON:-python3}" -m venv "$venv"
fi
pkgs=("${SQLALCHEMY_SPEC:-sqlalchemy}" "${GREENLET_SPEC:-greenlet}")
if [ "$script" = orm.py ]; then
    pkgs+=("${PSYCOPG_SPEC:-psycopg[binary]}" "${ASYNCPG_SPEC:-asyncpg}")
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}"
exec "$venv/bin/python" "$here/$script" "$@"

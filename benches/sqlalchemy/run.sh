#!/usr/bin/env bash
# Runs bridge.py in a throw-away virtualenv under benches/target/venv (git-ignored), created on
# first use with SQLAlchemy and greenlet from PyPI. Arguments are passed to bridge.py.
#   SQLALCHEMY_SPEC / GREENLET_SPEC  pip requirement specs (default: latest release)
#   PYTHON                            interpreter that creates the venv (default: python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../target/venv"
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$here/../target"
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "${SQLALCHEMY_SPEC:-sqlalchemy}" "${GREENLET_SPEC:-greenlet}"
exec "$venv/bin/python" "$here/bridge.py" "$@"

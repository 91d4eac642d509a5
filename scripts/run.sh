#!/usr/bin/env bash
# One entry point for a fresh machine: makes .venv, installs the project into it (editable,
# with the dashboard and test tools) when pyproject.toml or requirements.txt changed, then
# runs the dashboard or the tests.
#   bash scripts/run.sh app  [streamlit args]   start the dashboard
#   bash scripts/run.sh test [pytest args]      run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(cat pyproject.toml requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing VQ-VAE Lab into .venv (first run: a few minutes)..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$wanted" > "$stamp"
fi

command=${1:-}
shift || true
case "$command" in
  app)  exec .venv/bin/python -m streamlit run app.py "$@" ;;
  # One worker per core (at most 4): most tests are single-threaded (conftest pins torch to
  # one thread), so on a 2-core machine two workers take the suite from ~33 to ~18 minutes.
  test) exec .venv/bin/python -m pytest -n auto --maxprocesses 4 --dist worksteal "$@" ;;
  *)    echo "usage: bash scripts/run.sh app|test [args...]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then ruff, mypy and pytest.
#
#   bash scripts/test.sh [pytest args...]
#
# - a virtualenv in .venv with stepca and its test extras (pip install -e '.[test]');
# - as root with apt: the Debian tools the tests drive for real (openssl, OpenSSH server and
#   client, certbot, lego, wrk, softhsm2), installed when missing;
# - Node.js and npm (Debian nodejs npm) when `node` is missing, and `npm ci` in tests/oidc when its
#   node_modules is missing: the OIDC tests run the real oidc-provider (tests/oidc/README.md);
# - PostgreSQL and MariaDB: checked, started when installed but down (.ci/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is required ($PY is $("$PY" --version 2>&1))" >&2
  exit 1
fi

DEB_PACKAGES="openssl openssh-server openssh-client certbot lego wrk softhsm2 procps chromium libnss3-tools"
missing=""
for pkg in $DEB_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
# a node from elsewhere (nvm, NodeSource) is as good as Debian's; only a missing one is installed
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "warning: missing Debian packages:$missing (tests needing them will fail or skip)" >&2
  fi
fi

if command -v npm >/dev/null && [ ! -d tests/oidc/node_modules/oidc-provider ]; then
  echo "== npm ci (tests/oidc: oidc-provider)"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error >/dev/null
fi

if [ -f .ci/services.sh ]; then
  bash .ci/services.sh
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench

echo "== mypy --strict"
.venv/bin/mypy

echo "== pytest"
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"

#!/usr/bin/env bash
# Install stepca and run a CA on its embedded SQLite database, from a fresh clone:
#
#   bash scripts/run-ca.sh
#
# First run: creates .venv, installs stepca, and initializes a demo PKI in $STEPPATH
# (default ~/.step) with a generated password in $STEPPATH/secrets/password (mode 0600).
# Later runs reuse both. Environment: STEPPATH, CA_NAME (Demo), CA_DNS (localhost),
# CA_ADDRESS (127.0.0.1:9443), CA_PROVISIONER (admin@example.com).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/step-ca ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q .
fi

export STEPPATH=${STEPPATH:-$HOME/.step}
PASSWORD_FILE="$STEPPATH/secrets/password"
if [ ! -f "$STEPPATH/config/ca.json" ]; then
  mkdir -p "$STEPPATH/secrets"
  chmod 700 "$STEPPATH" "$STEPPATH/secrets"
  (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' > "$PASSWORD_FILE")
  .venv/bin/step ca init \
    --name "${CA_NAME:-Demo}" \
    --dns "${CA_DNS:-localhost}" \
    --address "${CA_ADDRESS:-127.0.0.1:9443}" \
    --provisioner "${CA_PROVISIONER:-admin@example.com}" \
    --password-file "$PASSWORD_FILE"
  echo
  echo "The CA password (keys and first provisioner) is in $PASSWORD_FILE."
fi
echo "Use the CLI with: export STEPPATH=$STEPPATH PATH=$PWD/.venv/bin:\$PATH"
exec .venv/bin/step-ca "$STEPPATH/config/ca.json" --password-file "$PASSWORD_FILE"

# Sourced by scripts/run and scripts/test: installs what the app needs into the checkout.
# Idempotent and quiet when everything is already there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
BUN_VERSION=1.4.4

install_python() {
  local requirements=$1
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    python3 -m venv "$ROOT/.venv"
  fi
  "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$requirements"
}

install_bun() {
  # Reflex cannot download bun on a machine without general internet; the npm package can.
  if [ ! -x "$ROOT/.tools/node_modules/.bin/bun" ]; then
    mkdir -p "$ROOT/.tools"
    printf '{"name":"unbroken-tools","private":true}\n' > "$ROOT/.tools/package.json"
    npm install --prefix "$ROOT/.tools" --silent --no-audit --no-fund "bun@$BUN_VERSION"
  fi
}

# Sourced by scripts/run, scripts/test and scripts/bench: installs what they need (into the
# checkout, except the Debian packages). Idempotent and quiet when everything is already there.
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

install_debian_packages() {
  # The servers the tests and the benchmark run for real, from Debian when missing: Chromium
  # for the browser tests and M7/M8 (Playwright cannot download its own browser here); nginx in
  # front of the app (tests/fakes/nginx.py); a throwaway Postgres cluster
  # (tests/fakes/postgres.py finds initdb under /usr/lib/postgresql/<version>/bin) for the
  # engine and API tests on Postgres; redis-server between several workers
  # (tests/fakes/redis.py). The benchmark's M3/scale runs all but Chromium.
  local packages=()
  [ -x "${UNBROKEN_CHROMIUM:-/usr/bin/chromium}" ] || packages+=(chromium chromium-driver)
  [ -x "${UNBROKEN_NGINX:-/usr/sbin/nginx}" ] || packages+=(nginx)
  [ -x "${UNBROKEN_REDIS_SERVER:-/usr/bin/redis-server}" ] || packages+=(redis-server)
  if [ -n "${UNBROKEN_PG_BIN:-}" ]; then
    [ -x "$UNBROKEN_PG_BIN/initdb" ] || { echo "UNBROKEN_PG_BIN=$UNBROKEN_PG_BIN has no initdb" >&2; exit 1; }
  elif ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
    packages+=(postgresql)
  fi
  if [ "${#packages[@]}" -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
}

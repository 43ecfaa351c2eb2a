# Sourced by scripts/run and scripts/test: where the project's own tools live.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.tools/node_modules/.bin:$ROOT/.venv/bin:$PATH"
export REFLEX_BUN_PATH="$ROOT/.tools/node_modules/.bin/bun"
export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_CHECK_LATEST_VERSION=false
# Reflex probes a mirror on first run unless told the registry; use the one npm is set up with.
export NPM_CONFIG_REGISTRY="${NPM_CONFIG_REGISTRY:-$(npm config get registry 2>/dev/null)}"
export PYTHONUNBUFFERED=1

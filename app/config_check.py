"""``python -m app.config_check``: read the configuration as the app will, and say what is
wrong before anything is built or bound (``scripts/run`` calls it first)."""

from __future__ import annotations

import sys

from app.settings import Settings, SettingsError


def main() -> int:
    try:
        Settings.from_env()
    except SettingsError as exc:
        print(f"Unbroken will not start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

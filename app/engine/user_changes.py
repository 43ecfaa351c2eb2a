"""What an admin may change about a user: ``disabled``, ``is_admin`` and the per-user limits.

One rule for the admin API and the admin page: an admin cannot disable themself or take their
own admin role away, so an instance always keeps a way in.
"""

from __future__ import annotations

import dataclasses

from app.engine.accounts import Actor, UserLimits
from app.engine.run_input import Conflict, InputError

LIMIT_FIELDS = tuple(field.name for field in dataclasses.fields(UserLimits))


def check_user_changes(admin: Actor, user_id: str, changes: dict) -> dict:
    """``disabled`` / ``is_admin`` (booleans) and limits (a whole number ≥ 1, or null for the
    instance's default). ``InputError`` for a bad value, ``Conflict`` for the admin's own
    lockout."""
    unknown = set(changes) - {"disabled", "is_admin", *LIMIT_FIELDS}
    if unknown:
        raise InputError("unknown_field", f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}.")
    for name in ("disabled", "is_admin"):
        if name in changes and not isinstance(changes[name], bool):
            raise InputError(f"bad_{name}", f"{name} must be true or false.")
    for name in LIMIT_FIELDS:
        value = changes.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f"bad_{name}", f"{name} must be a whole number of at least 1, or null.")
    if not changes:
        raise InputError("nothing_to_change", "Send at least one field to change.")
    if user_id == admin.id and (changes.get("disabled") or changes.get("is_admin") is False):
        raise Conflict("own_account", "You cannot disable yourself or take your own admin role away.")
    return changes

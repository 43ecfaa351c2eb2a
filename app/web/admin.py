"""The admin API: users (disable, make admin, per-user limits), invites and the sign-up mode.

Every route answers 403 to anybody but an admin. An admin cannot disable themself or take
their own admin role away, so an instance always keeps a way in.
"""

from __future__ import annotations

import asyncio
import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.engine.accounts import SIGNUP_KEY, UserLimits, UserRow
from app.engine.service import ChatService
from app.settings import SIGNUP_MODES
from app.web.access import actor_of
from app.web.responses import HTTPProblem, guarded, read_json_object

LIMIT_FIELDS = tuple(field.name for field in dataclasses.fields(UserLimits))


def user_json(user: UserRow) -> dict:
    return {"id": user.id, "name": user.name, "is_admin": user.is_admin, "disabled": user.disabled,
            "created_at": user.created_at.isoformat(), **dataclasses.asdict(user.limits)}


def check_user_changes(body: dict) -> dict:
    """``disabled`` / ``is_admin`` (booleans) and limits (a whole number ≥ 1, or null for the
    instance's default)."""
    unknown = set(body) - {"disabled", "is_admin", *LIMIT_FIELDS}
    if unknown:
        raise HTTPProblem(400, "unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name in ("disabled", "is_admin"):
        if name in body and not isinstance(body[name], bool):
            raise HTTPProblem(400, f"bad_{name}", f"{name} must be true or false.")
    for name in LIMIT_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise HTTPProblem(400, f"bad_{name}", f"{name} must be a whole number of at least 1, or null.")
    if not body:
        raise HTTPProblem(400, "nothing_to_change", "Send at least one field to change.")
    return body


def admin_routes(service: ChatService) -> list[Route]:
    def admin(request: Request):
        actor = actor_of(request)
        if not actor.is_admin:
            raise HTTPProblem(403, "forbidden", "Only an admin can do this.")
        return actor

    async def users(request: Request) -> Response:
        admin(request)
        rows = await asyncio.to_thread(service.accounts.users)
        return JSONResponse({"users": [user_json(u) for u in rows]})

    async def user(request: Request) -> Response:
        actor = admin(request)
        user_id = request.path_params["user_id"]
        changes = check_user_changes(await read_json_object(request, service.settings.max_request_bytes))
        if user_id == actor.id and (changes.get("disabled") or changes.get("is_admin") is False):
            raise HTTPProblem(409, "own_account", "You cannot disable yourself or take your own admin role away.")
        row = await asyncio.to_thread(service.accounts.update_user, user_id, **changes)
        if row is None:
            raise HTTPProblem(404, "not_found", "No such user.")
        return JSONResponse(user_json(row))

    async def invites(request: Request) -> Response:
        actor = admin(request)
        code = await asyncio.to_thread(service.accounts.create_invite, actor)
        return JSONResponse({"code": code, "signup_path": f"/signup?invite={code}"}, status_code=201)

    async def signup(request: Request) -> Response:
        admin(request)
        if request.method == "PUT":
            body = await read_json_object(request, service.settings.max_request_bytes)
            if body.get("mode") not in SIGNUP_MODES or set(body) != {"mode"}:
                raise HTTPProblem(400, "bad_mode", f"Send {{\"mode\": one of {', '.join(SIGNUP_MODES)}}}.")
            await asyncio.to_thread(service.accounts.set_setting, SIGNUP_KEY, body["mode"])
        return JSONResponse({"mode": await asyncio.to_thread(service.accounts.signup_mode)})

    return [
        Route("/api/admin/users", guarded(users), methods=["GET"]),
        Route("/api/admin/users/{user_id}", guarded(user), methods=["PATCH"]),
        Route("/api/admin/invites", guarded(invites), methods=["POST"]),
        Route("/api/admin/signup", guarded(signup), methods=["GET", "PUT"]),
    ]

"""The admin API: users (disable, make admin, per-user limits), invites, the sign-up mode and
the providers (keys, base URLs, models).

Every route answers 403 to anybody but an admin. An admin cannot disable themself or take
their own admin role away (409), so an instance always keeps a way in. A provider key goes in
(``PUT``) and never comes out: ``GET`` says ``key_set``, never the key.
"""

from __future__ import annotations

import asyncio
import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.engine.accounts import SIGNUP_KEY, UserRow
from app.engine.service import ChatService
from app.settings import SIGNUP_MODES
from app.web.access import actor_of
from app.web.responses import HTTPProblem, guarded, read_json_object


def user_json(user: UserRow) -> dict:
    return {"id": user.id, "name": user.name, "is_admin": user.is_admin, "disabled": user.disabled,
            "created_at": user.created_at.isoformat(), **dataclasses.asdict(user.limits)}


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
        changes = await read_json_object(request, service.settings.max_request_bytes)
        return JSONResponse(user_json(await service.update_user(actor, request.path_params["user_id"], changes)))

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

    async def providers(request: Request) -> Response:
        return JSONResponse({"providers": await service.provider_views(admin(request))})

    async def provider(request: Request) -> Response:
        actor = admin(request)
        body = await read_json_object(request, service.settings.max_request_bytes)
        return JSONResponse({"providers": await service.set_provider(actor, request.path_params["provider"], body)})

    return [
        Route("/api/admin/users", guarded(users), methods=["GET"]),
        Route("/api/admin/users/{user_id}", guarded(user), methods=["PATCH"]),
        Route("/api/admin/invites", guarded(invites), methods=["POST"]),
        Route("/api/admin/signup", guarded(signup), methods=["GET", "PUT"]),
        Route("/api/admin/providers", guarded(providers), methods=["GET"]),
        Route("/api/admin/providers/{provider}", guarded(provider), methods=["PUT"]),
    ]

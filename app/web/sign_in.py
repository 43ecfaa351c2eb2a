"""Signing in and out, signing up, and a user's API tokens.

The sign-in pages are plain HTML forms served here, not Reflex pages: they work before any
websocket exists (the gate admits Reflex's websocket only to signed-in users) and carry no
script at all. ``POST /auth/login`` and ``/auth/signup`` take the form or JSON; a form gets a
redirect, JSON gets JSON. The session cookie is HttpOnly, SameSite=Lax, and Secure when the
browser reached us over HTTPS (directly, or through a trusted proxy's X-Forwarded-Proto).
"""

from __future__ import annotations

import asyncio
import html
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.engine.accounts import AccountError, Actor
from app.engine.identity import SESSION_COOKIE, Credentials, is_trusted_proxy
from app.engine.service import ChatService
from app.web.access import actor_of
from app.web.responses import HTTPProblem, guarded, read_json_object, too_large

ERRORS = {
    "bad_credentials": "That user name and password do not match.",
    "throttled": "Too many failed sign-ins. Wait a moment, then try again.",
    "signed_out": "You are signed out.",
}


def client_address(request: Request, service: ChatService) -> str:
    """The browser's address: the peer, or behind a trusted proxy the one it forwarded."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and is_trusted_proxy(peer, service.settings):
        return forwarded.split(",")[-1].strip()
    return peer


def _is_https(request: Request, service: ChatService) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    return is_trusted_proxy(peer, service.settings) and request.headers.get("x-forwarded-proto") == "https"


def _safe_next(target: object) -> str:
    """Only a path of this site (no ``//host``, no scheme): never an open redirect."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def sign_in_routes(service: ChatService) -> list[Route]:
    settings = service.settings

    async def read_fields(request: Request) -> tuple[dict, bool]:
        """The posted fields and whether they came from a form (else JSON)."""
        if request.headers.get("content-type", "").startswith("application/json"):
            return await read_json_object(request, settings.max_request_bytes), False
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_request_bytes:
            raise await too_large(request, HTTPProblem(413, "request_too_large", "The form is too large."))
        form = await request.form(max_files=0, max_fields=10)
        return {key: value for key, value in form.items() if isinstance(value, str)}, True

    def signed_in(request: Request, actor: Actor, as_form: bool, target: str) -> Response:
        token = service.accounts.start_session(actor)
        response = RedirectResponse(_safe_next(target), status_code=303) if as_form else JSONResponse(
            {"id": actor.id, "name": actor.name, "is_admin": actor.is_admin})
        response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_days * 86400), path="/",
                            httponly=True, samesite="lax", secure=_is_https(request, service))
        return response

    def refused(as_form: bool, page: str, status: int, code: str, message: str, retry_after: int = 0,
                query: dict | None = None) -> Response:
        """The refusal as JSON, or for a form a redirect back to its page with ``query``."""
        if as_form:
            return RedirectResponse(f"{page}?{urlencode({'error': code, **(query or {})})}", status_code=303)
        response = JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def login_page(request: Request) -> Response:
        if settings.auth != "password":
            return RedirectResponse("/", status_code=303)
        error = ERRORS.get(request.query_params.get("error", ""), "")
        return HTMLResponse(_page("Sign in", "/auth/login", request.query_params.get("next", "/"), error, [
            ("name", "User name", "text", "username", ""), ("password", "Password", "password", "current-password", ""),
        ], footer='<a href="/signup">Create an account</a>'))

    async def signup_page(request: Request) -> Response:
        if settings.auth != "password":
            return RedirectResponse("/", status_code=303)
        code = request.query_params.get("error", "")
        error = request.query_params.get("message", "") if code else ""
        invite = request.query_params.get("invite", "")
        return HTMLResponse(_page("Create an account", "/auth/signup", "/", error, [
            ("name", "User name", "text", "username", ""), ("password", "Password (8 characters or more)", "password",
                                                            "new-password", ""),
            ("invite", "Invite code (if you have one)", "text", "off", invite),
        ], footer='<a href="/login">Sign in instead</a>'))

    async def login(request: Request) -> Response:
        fields, as_form = await read_fields(request)
        name = str(fields.get("name", "")).strip().lower()
        keys = [f"name:{name}", f"address:{client_address(request, service)}"]
        throttle = service.login_throttle
        wait = await asyncio.to_thread(throttle.retry_after_s, keys)
        if wait:
            return refused(as_form, "/login", 429, "throttled", ERRORS["throttled"] + f" ({wait} s)", wait)
        actor = await asyncio.to_thread(service.accounts.authenticate, name, fields.get("password"))
        if actor is None:
            await asyncio.to_thread(throttle.failed, keys)
            return refused(as_form, "/login", 401, "bad_credentials", ERRORS["bad_credentials"],
                           query={"next": _safe_next(fields.get("next"))})
        await asyncio.to_thread(throttle.succeeded, keys)
        return signed_in(request, actor, as_form, fields.get("next", "/"))

    async def signup(request: Request) -> Response:
        if settings.auth != "password":
            raise HTTPProblem(404, "not_found", "Accounts are not made here on this instance.")
        fields, as_form = await read_fields(request)
        try:
            actor = await asyncio.to_thread(service.accounts.sign_up, fields.get("name"), fields.get("password"),
                                            fields.get("invite") or None)
        except AccountError as exc:
            return refused(as_form, "/signup", 400, exc.code, exc.message,
                           query={"message": exc.message, "invite": fields.get("invite") or ""})
        return signed_in(request, actor, as_form, "/")

    async def logout(request: Request) -> Response:
        token = Credentials.from_headers(dict(request.headers.items()), None, settings).session_token
        if token:
            await asyncio.to_thread(service.accounts.end_session, token)
        response = RedirectResponse("/login?error=signed_out", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def me(request: Request) -> Response:
        actor = actor_of(request)
        return JSONResponse({"id": actor.id, "name": actor.name, "is_admin": actor.is_admin, "auth": settings.auth})

    async def tokens(request: Request) -> Response:
        actor = actor_of(request)
        if request.method == "POST":
            body = await read_json_object(request, settings.max_request_bytes)
            try:
                row, token = await asyncio.to_thread(service.accounts.create_token, actor, body.get("name"))
            except AccountError as exc:
                raise HTTPProblem(400, exc.code, exc.message) from None
            return JSONResponse({"id": row.id, "name": row.name, "token": token,
                                 "created_at": row.created_at.isoformat()}, status_code=201)
        rows = await asyncio.to_thread(service.accounts.tokens, actor)
        return JSONResponse({"tokens": [
            {"id": t.id, "name": t.name, "created_at": t.created_at.isoformat(),
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None} for t in rows
        ]})

    async def revoke(request: Request) -> Response:
        if not await asyncio.to_thread(service.accounts.revoke_token, actor_of(request),
                                       request.path_params["token_id"]):
            raise HTTPProblem(404, "not_found", "No such token.")
        return Response(status_code=204)

    return [
        Route("/login", guarded(login_page), methods=["GET"]),
        Route("/signup", guarded(signup_page), methods=["GET"]),
        Route("/auth/login", guarded(login), methods=["POST"]),
        Route("/auth/signup", guarded(signup), methods=["POST"]),
        Route("/auth/logout", guarded(logout), methods=["POST"]),
        Route("/api/me", guarded(me), methods=["GET"]),
        Route("/api/tokens", guarded(tokens), methods=["GET", "POST"]),
        Route("/api/tokens/{token_id}", guarded(revoke), methods=["DELETE"]),
    ]


def _page(title: str, action: str, target: str, error: str, fields: list[tuple[str, str, str, str, str]],
          footer: str) -> str:
    """A sign-in form page: no script, the app's stylesheet."""
    inputs = "".join(
        f'<label>{html.escape(label)}<input name="{name}" type="{kind}" autocomplete="{auto}" '
        f'value="{html.escape(value)}"{" required" if name != "invite" else ""}></label>'
        for name, label, kind, auto, value in fields
    )
    notice = f'<p class="ub-notice" role="alert">{html.escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)} · Unbroken</title><link rel="stylesheet" href="/unbroken.css"></head>'
        f'<body><main class="ub-auth"><h1>Unbroken</h1><h2>{html.escape(title)}</h2>{notice}'
        f'<form method="post" action="{action}" class="ub-auth-form">'
        f'<input type="hidden" name="next" value="{html.escape(quote(_safe_next(target), safe="/?=&"))}">'
        f'{inputs}<button type="submit">{html.escape(title)}</button></form>'
        f'<p class="ub-auth-footer">{footer}</p></main></body></html>'
    )

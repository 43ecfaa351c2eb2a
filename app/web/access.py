"""The gate every request passes (pages, static files, API, Reflex's websocket):

1. A browser request that could change something — an unsafe method, or a websocket, which
   carries Reflex events — must come from the app's own origin or a configured one (CSRF and
   cross-site websocket hijacking). Requests without ``Origin`` are judged by
   ``Sec-Fetch-Site``; clients that send neither (curl, scripts) carry no ambient cookie risk.
2. Who is asking (``identity.identify``): the actor goes into ``scope["state"]["actor"]``.
   Without one, API calls get 401, pages a redirect to /login, a websocket is refused.
   Static files and the sign-in pages are public.
3. Security headers on every response; HTML pages get a Content-Security-Policy whose
   ``script-src`` allows exactly the inline scripts of that page (by SHA-256) and scripts of
   our own origin — an injected inline script matches no hash and does not run.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.engine.accounts import Actor
from app.engine.identity import Credentials, identify
from app.engine.service import ChatService

EVENT_PATH = "/_event"  # Reflex's Socket.IO endpoint
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = frozenset({"/login", "/signup", "/auth/login", "/auth/signup", "/healthz", "/ping", "/_health",
                          "/favicon.ico"})
STATIC_SUFFIXES = (".js", ".mjs", ".css", ".map", ".ico", ".png", ".svg", ".webp", ".woff", ".woff2", ".ttf",
                   ".jsx", ".gz", ".txt", ".webmanifest")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
# Responses that are not pages (JSON, event streams, files) need no script at all.
NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.S | re.I)


def actor_of(request: Request) -> Actor:
    """The actor the gate identified for this request (never None past the gate)."""
    return request.scope["state"]["actor"]


def is_public(path: str) -> bool:
    if path in PUBLIC_PATHS or path.startswith("/assets/"):
        return True
    return not path.startswith("/api/") and path.rsplit("/", 1)[-1].endswith(STATIC_SUFFIXES)


def refuses_origin(scope_type: str, method: str, headers: Headers, allowed: frozenset[str]) -> bool:
    """True for a browser request from another origin that could change something.

    The app's own origin is the ``Host`` the browser addressed (a proxy in front must pass it
    on, as ``deploy/nginx`` does); the scheme is not compared, so TLS ending at the proxy
    needs no extra setting."""
    if scope_type == "http" and method not in UNSAFE_METHODS:
        return False
    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site") in ("cross-site", "same-site")
    if origin in allowed:
        return False
    parts = urlsplit(origin)
    return parts.scheme not in ("http", "https") or parts.netloc.lower() != headers.get("host", "").lower()


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions for each inline ``<script>`` of a page (CSP3, "hash-source")."""
    return sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    })


def page_csp(script_hashes: list[str], extra_connect: list[str]) -> str:
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",  # Radix and React set style attributes
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self' " + " ".join(extra_connect),
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]).replace("  ", " ")


class AccessGate:
    def __init__(self, app: ASGIApp, service: ChatService) -> None:
        self.app = app
        self.service = service
        self.allowed_origins = frozenset(service.settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        # Reflex's event endpoint changes state over any transport: judged like a websocket.
        kind = "websocket" if scope["path"].startswith(EVENT_PATH) else scope["type"]
        if refuses_origin(kind, scope.get("method", ""), headers, self.allowed_origins):
            return await self._refuse(scope, send, 403, "cross_origin",
                                      "Requests from another site are refused; use the app's own pages.")
        path = scope["path"]
        actor = None
        if not is_public(path):
            peer = scope["client"][0] if scope.get("client") else None
            credentials = Credentials.from_headers(dict(headers.items()), peer, self.service.settings)
            actor = await asyncio.to_thread(identify, self.service.settings, self.service.accounts, credentials)
            if actor is None:
                return await self._unauthenticated(scope, send, path)
        scope.setdefault("state", {})["actor"] = actor
        if scope["type"] == "websocket":
            # The origin was judged above. Reflex's socket server judges it again, against
            # UNBROKEN_ALLOWED_ORIGINS alone (rxconfig), so once one is set it would refuse the
            # app's own pages; it checks only an Origin that is present.
            headers = [(name, value) for name, value in scope["headers"] if name != b"origin"]
            return await self.app({**scope, "headers": headers}, receive, send)
        await self.app(scope, receive, _SecureHeaders(send, headers, self.service.settings.port))

    async def _unauthenticated(self, scope: Scope, send: Send, path: str) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not path.startswith("/api/") \
                and path != "/metrics":
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return await _send_plain(send, 303, b"", {"location": "/login?next=" + quote(target, safe="")})
        await self._refuse(scope, send, 401, "unauthenticated", "Sign in first (or send an API token).")

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008, "reason": code})
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        await _send_plain(send, status, body, {"content-type": "application/json"})


async def _send_plain(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode(), v.encode()) for k, v in {**SECURITY_HEADERS, "content-security-policy": NON_PAGE_CSP,
                                                 "content-length": str(len(body)), **headers}.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _SecureHeaders:
    """Wraps ``send``: adds the security headers; an HTML page is held until complete, to
    hash its inline scripts into its CSP."""

    def __init__(self, send: Send, request_headers: Headers, app_port: int) -> None:
        self._send = send
        self._start: Message | None = None
        self._body = bytearray()
        # Reflex's page opens its websocket on the page's host name and the app's own port
        # (unless REFLEX_API_URL names the public address): behind a proxy on another port
        # that is not 'self', so it is named.
        hostname = (urlsplit("//" + request_headers.get("host", "")).hostname or "").lower()
        port = urlsplit("//" + request_headers.get("host", "")).port
        self._extra_connect = [f"ws://{hostname}:{app_port}", f"http://{hostname}:{app_port}"] \
            if hostname and port not in (None, app_port) else []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message["headers"]))
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
            if headers.get("content-type", "").startswith("text/html"):
                self._start = {**message, "headers": headers.raw}
                return
            # A 304 (a reload of a cached page) has no body and no content type; the browser
            # merges its headers into the cached page's, so a CSP here would replace the page's.
            if message["status"] != 304:
                headers.setdefault("content-security-policy", NON_PAGE_CSP)
            return await self._send({**message, "headers": headers.raw})
        if self._start is None:
            return await self._send(message)
        if message["type"] == "http.response.pathsend":  # a file the server would send itself
            self._body += await asyncio.to_thread(Path(message["path"]).read_bytes)
        elif message["type"] == "http.response.body":
            self._body += message.get("body", b"")
            if message.get("more_body", False):
                return
        else:
            return await self._send(message)
        headers = MutableHeaders(raw=self._start["headers"])
        html = bytes(self._body)
        if headers.get("content-encoding") == "gzip":
            html = gzip.decompress(html)
        headers["content-security-policy"] = page_csp(inline_script_hashes(html), self._extra_connect)
        await self._send({**self._start, "headers": headers.raw})
        await self._send({"type": "http.response.body", "body": bytes(self._body)})

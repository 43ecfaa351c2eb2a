"""Who is asking, from what a request carries — one rule for HTTP requests and Reflex events.

- auth ``none``: always the local user (the app then listens on loopback only).
- An API token (``Authorization: Bearer ubk_…``) names its user in every mode but ``none``.
- auth ``password``: the session cookie's sign-in.
- auth ``proxy``: the user header, believed only when the request comes straight from one of
  the trusted proxy addresses (anybody else could send that header too).

Blocking (``Accounts`` reads the database): call in a thread.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from http.cookies import SimpleCookie

from app.engine.accounts import LOCAL, Accounts, Actor
from app.settings import Settings

SESSION_COOKIE = "unbroken_session"


@dataclasses.dataclass(frozen=True)
class Credentials:
    session_token: str | None = None
    bearer_token: str | None = None
    proxy_user: str | None = None  # the proxy header's value, whoever sent it
    peer: str | None = None  # the address the request came from (a proxy's, behind one)

    @classmethod
    def from_headers(cls, headers: dict[str, str], peer: str | None, settings: Settings) -> Credentials:
        """From lower-case header names to values (a cookie header parsed here)."""
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header carries no session
            cookie = SimpleCookie()
        session = cookie.get(SESSION_COOKIE)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        return cls(
            session_token=session.value if session is not None and session.value else None,
            bearer_token=bearer or None,
            proxy_user=headers.get(settings.proxy_user_header.lower()),
            peer=peer,
        )


def is_trusted_proxy(peer: str | None, settings: Settings) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.trusted_proxies)


def identify(settings: Settings, accounts: Accounts, credentials: Credentials) -> Actor | None:
    """The actor the credentials prove, or None (sign in first)."""
    if settings.auth == "none":
        return LOCAL
    if credentials.bearer_token:
        return accounts.token_user(credentials.bearer_token)
    if settings.auth == "password":
        return accounts.session_user(credentials.session_token) if credentials.session_token else None
    if credentials.proxy_user and is_trusted_proxy(credentials.peer, settings):
        return accounts.proxy_user(credentials.proxy_user)
    return None

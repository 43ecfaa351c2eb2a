"""Users and what proves who they are: passwords, sign-in sessions, API tokens, invites.

Invariants:
- Secrets are never stored: passwords as argon2id hashes (argon2-cffi), session tokens, API
  tokens and invite codes as SHA-256 digests (they are random and long, so a fast digest is
  enough). A plaintext token exists once, in the answer that creates it.
- Every question of "who is this" answers an ``Actor`` or None; a disabled user is None.
- The first account made on an instance (by sign-up or by a proxy's header) takes over the
  ``local`` user — the one user of an instance without authentication — with its
  conversations, and is an admin.

Blocking (SQLAlchemy): the web layer and the UI call it in a thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta

import argon2
import sqlalchemy
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.engine.models import LOCAL_USER_ID, ApiToken, AuthSession, InstanceSetting, Invite, User, utcnow

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
INVITE_DAYS = 7
SIGNUP_KEY = "signup"
API_TOKEN_PREFIX = "ubk_"
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # how exactly a token's last use is kept
_HASHER = argon2.PasswordHasher()  # argon2id with the library's current parameters
_DUMMY_HASH = _HASHER.hash("a password nobody has")  # verify against it when the name is unknown


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is asking: every engine call that reads or changes a user's data takes one."""

    id: str
    name: str
    is_admin: bool = False


LOCAL = Actor(LOCAL_USER_ID, "local", is_admin=True)


@dataclasses.dataclass(frozen=True)
class UserLimits:
    """A user's own limits; None: the instance's default."""

    messages_per_minute: int | None = None
    concurrent_runs: int | None = None
    daily_token_budget: int | None = None


@dataclasses.dataclass(frozen=True)
class UserRow:
    id: str
    name: str
    is_admin: bool
    disabled: bool
    has_password: bool
    limits: UserLimits
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class TokenRow:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class AccountError(ValueError):
    """A sign-up or change that cannot be made; ``code`` for machines, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: object) -> str:
    name = name.strip().lower() if isinstance(name, str) else ""
    if not NAME_PATTERN.match(name) or name == LOCAL.name:
        raise AccountError("bad_name", "A user name has 1 to 64 characters: letters, digits and . _ @ - "
                                       "(starting with a letter or digit).")
    return name


def check_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError("bad_password", f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    return password


class Accounts:
    def __init__(self, engine: Engine, default_signup: str, session_days: float) -> None:
        self.engine = engine
        self.default_signup = default_signup
        self.session_ttl = timedelta(days=session_days)

    # -- signing up and in -------------------------------------------------------------------

    def sign_up(self, name: object, password: object, invite_code: str | None = None) -> Actor:
        """A new local account: the first one takes over the local user and is admin; later
        ones need sign-up to be open, or an unused invite while it is invite-only."""
        name, password = check_name(name), check_password(password)
        with Session(self.engine) as session:
            if self._taken(session, name):
                raise AccountError("name_taken", "That user name is taken.")
            password_hash = _HASHER.hash(password)
            if not self._has_accounts(session):
                actor = self._claim_local(session, name, password_hash)
                if actor is not None:
                    session.commit()
                    return actor
            mode = self.signup_mode()
            invite = self._usable_invite(session, invite_code) if invite_code else None
            if mode == "closed" or (mode == "invite" and invite is None):
                raise AccountError("signup_closed", "Sign-up needs an invite from an admin."
                                   if mode == "invite" else "Sign-up is closed on this instance.")
            user = User(id=uuid.uuid4().hex, name=name, password_hash=password_hash)
            session.add(user)
            if invite is not None:
                invite.used_by = user.id
                session.add(invite)
            session.commit()
            return Actor(user.id, user.name, user.is_admin)

    def authenticate(self, name: object, password: object) -> Actor | None:
        """The user whose password this is, or None (unknown name, wrong password, disabled)."""
        name = name.strip().lower() if isinstance(name, str) else ""
        with Session(self.engine) as session:
            user = session.execute(select(User).where(User.name == name)).scalars().first()
            stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
            try:
                _HASHER.verify(stored, password if isinstance(password, str) else "")
            except argon2.exceptions.VerificationError:
                return None
            if user is None or user.disabled or stored is _DUMMY_HASH:
                return None
            if _HASHER.check_needs_rehash(stored):
                user.password_hash = _HASHER.hash(password)
                session.add(user)
                session.commit()
            return Actor(user.id, user.name, user.is_admin)

    def proxy_user(self, name: str) -> Actor | None:
        """The user a login proxy vouches for, made on first sight; None when disabled or the
        header's value is not a valid name."""
        try:
            name = check_name(name)
        except AccountError:
            return None
        with Session(self.engine) as session:
            user = session.execute(select(User).where(User.name == name)).scalars().first()
            if user is None:
                actor = self._claim_local(session, name, None) if not self._has_accounts(session) else None
                if actor is None:
                    user = User(id=uuid.uuid4().hex, name=name)
                    session.add(user)
                    actor = Actor(user.id, name)
                try:
                    session.commit()
                except sqlalchemy.exc.IntegrityError:  # two first requests at once: the other made it
                    return self.proxy_user(name)
                return actor
            return None if user.disabled else Actor(user.id, user.name, user.is_admin)

    @staticmethod
    def _taken(session: Session, name: str) -> bool:
        return session.execute(select(User.id).where(User.name == name)).first() is not None

    @staticmethod
    def _has_accounts(session: Session) -> bool:
        """True once anybody has an account (the local user taken over, or another user)."""
        query = select(User.id).where((User.name != LOCAL.name) | (User.id != LOCAL_USER_ID)).limit(1)
        return session.execute(query).first() is not None

    @staticmethod
    def _claim_local(session: Session, name: str, password_hash: str | None) -> Actor | None:
        """Take over the local user, unless somebody did already: one conditional update, so of
        two first sign-ups at once only one wins (None for the other)."""
        result = session.execute(
            update(User).where(User.id == LOCAL_USER_ID, User.name == LOCAL.name, User.password_hash.is_(None))
            .values(name=name, password_hash=password_hash, is_admin=True, disabled=False)
        )
        return Actor(LOCAL_USER_ID, name, is_admin=True) if result.rowcount == 1 else None

    # -- sessions and API tokens -------------------------------------------------------------

    def start_session(self, actor: Actor) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with Session(self.engine) as session:
            session.add(AuthSession(id=digest(token), user_id=actor.id, created_at=now,
                                    expires_at=now + self.session_ttl))
            session.commit()
        return token

    def session_user(self, token: str) -> Actor | None:
        query = (select(User).join(AuthSession, AuthSession.user_id == User.id)
                 .where(AuthSession.id == digest(token), AuthSession.expires_at > utcnow()))
        return self._actor(query)

    def end_session(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(AuthSession).where(AuthSession.id == digest(token)))

    def create_token(self, actor: Actor, name: object) -> tuple[TokenRow, str]:
        """A new API token: its row and the token itself, which is never shown again."""
        name = name.strip() if isinstance(name, str) else ""
        if not 1 <= len(name) <= 100:
            raise AccountError("bad_token_name", "Give the token a name of 1 to 100 characters.")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(id=secrets.token_hex(6), user_id=actor.id, name=name, token_hash=digest(token))
        with Session(self.engine) as session:
            session.add(row)
            session.commit()
            return TokenRow(row.id, row.name, row.created_at, None), token

    def token_user(self, token: str) -> Actor | None:
        """The token's user. Its ``last_used_at`` is written when it is older than
        ``TOKEN_USE_RESOLUTION``: a script's every request would otherwise be a write."""
        hashed, now = digest(token), utcnow()
        stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_USE_RESOLUTION)
        with Session(self.engine) as session:
            found = session.execute(select(User, stale).join(ApiToken, ApiToken.user_id == User.id)
                                    .where(ApiToken.token_hash == hashed)).first()
            if found is None or found[0].disabled:
                return None
            user, use_is_stale = found
            actor = Actor(user.id, user.name, user.is_admin)
        if use_is_stale:
            with self.engine.begin() as connection:
                connection.execute(update(ApiToken).where(ApiToken.token_hash == hashed).values(last_used_at=now))
        return actor

    def tokens(self, actor: Actor) -> list[TokenRow]:
        query = select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.created_at)
        with Session(self.engine) as session:
            return [TokenRow(t.id, t.name, t.created_at, t.last_used_at) for t in session.execute(query).scalars()]

    def revoke_token(self, actor: Actor, token_id: str) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(delete(ApiToken).where(ApiToken.id == token_id,
                                                                ApiToken.user_id == actor.id))
            return result.rowcount == 1

    def _actor(self, query) -> Actor | None:
        with Session(self.engine) as session:
            user = session.execute(query).scalars().first()
            return Actor(user.id, user.name, user.is_admin) if user and not user.disabled else None

    # -- what admins manage ------------------------------------------------------------------

    def signup_mode(self) -> str:
        with Session(self.engine) as session:
            row = session.get(InstanceSetting, SIGNUP_KEY)
            return row.value if row else self.default_signup

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None, remove) an instance setting."""
        with Session(self.engine) as session:
            row = session.get(InstanceSetting, key)
            if value is None:
                if row is not None:
                    session.delete(row)
            else:
                session.merge(InstanceSetting(key=key, value=value))
            session.commit()

    def instance_settings(self, prefix: str) -> dict[str, str]:
        query = select(InstanceSetting).where(InstanceSetting.key.startswith(prefix))
        with Session(self.engine) as session:
            return {row.key: row.value for row in session.execute(query).scalars()}

    def create_invite(self, admin: Actor) -> str:
        code = secrets.token_urlsafe(18)
        now = utcnow()
        with Session(self.engine) as session:
            session.add(Invite(id=digest(code), created_by=admin.id, created_at=now,
                               expires_at=now + timedelta(days=INVITE_DAYS)))
            session.commit()
        return code

    @staticmethod
    def _usable_invite(session: Session, code: str) -> Invite | None:
        invite = session.get(Invite, digest(code))
        if invite is None or invite.used_by is not None or invite.expires_at <= utcnow():
            return None
        return invite

    def users(self) -> list[UserRow]:
        with Session(self.engine) as session:
            return [self._row(u) for u in session.execute(select(User).order_by(User.created_at)).scalars()]

    def user(self, user_id: str) -> UserRow | None:
        with Session(self.engine) as session:
            user = session.get(User, user_id)
            return self._row(user) if user else None

    def update_user(self, user_id: str, **values) -> UserRow | None:
        """Set ``disabled``, ``is_admin`` and/or the UserLimits fields; a disabled user's
        sessions end at once."""
        with Session(self.engine) as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            for name, value in values.items():
                setattr(user, name, value)
            session.add(user)
            if values.get("disabled"):
                session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
            session.commit()
            return self._row(user)

    @staticmethod
    def _row(user: User) -> UserRow:
        return UserRow(user.id, user.name, user.is_admin, user.disabled, user.password_hash is not None,
                       UserLimits(user.messages_per_minute, user.concurrent_runs, user.daily_token_budget),
                       user.created_at)

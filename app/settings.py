"""Typed settings, read once from the environment and passed in.

Nothing reads ``os.environ`` anywhere else: the engine, the web layer and the UI receive a
``Settings`` object, so tests build one by hand and no module has import-time side effects.
Provider variables follow the ecosystem's names (``OPENAI_API_KEY`` …); Unbroken's own knobs
are prefixed ``UNBROKEN_``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping

DEFAULT_DATABASE_URL = "sqlite:///data/unbroken.db"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"
DEFAULT_OLLAMA_MODEL = "llama3.2"
OPENAI_APIS = ("chat", "responses")
DEMO_MODES = ("auto", "on", "off")
AUTH_MODES = ("none", "password", "proxy")
SIGNUP_MODES = ("open", "invite", "closed")
MAX_TEMPERATURE = 2.0  # the widest range providers accept (OpenAI); Anthropic caps at 1


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Several workers: live events and stop/retry requests go between them through Redis.
    redis_url: str | None = None
    # How long a worker's claim on the runs it answers lasts without renewal: a worker that
    # dies has its runs taken over by another one within about this long.
    run_lease_s: float = 5.0
    port: int = 3000
    host: str = "127.0.0.1"  # the address the app binds (scripts/run)
    # Who may use the instance: "none" (one person, loopback only), "password" (local
    # accounts) or "proxy" (a user header set by a reverse proxy at a trusted address).
    auth: str = "none"
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks, e.g. 127.0.0.1, 10.0.0.0/8
    proxy_user_header: str = "Remote-User"
    signup: str = "invite"  # until an admin changes it on the admin page
    session_days: float = 30.0
    login_max_failures: int = 5  # failed sign-ins (per name and per address) before a lockout
    login_lockout_s: float = 60.0  # doubled for every further failure
    # Origins (scheme://host[:port]) other than the app's own that may call the API with credentials.
    allowed_origins: tuple[str, ...] = ()
    # Per-user limits (an admin can set others per user).
    messages_per_minute: int = 60
    concurrent_runs: int = 2
    # Providers: each one is on when its key or address is set; the demo when none is (auto).
    openai_api_key: str | None = dataclasses.field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_model: str = DEFAULT_OPENAI_MODEL
    openai_models: tuple[str, ...] = ()
    openai_api: str = "chat"  # "chat" (Chat Completions) or "responses" (Responses API)
    anthropic_api_key: str | None = dataclasses.field(default=None, repr=False)
    anthropic_base_url: str | None = None
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    anthropic_models: tuple[str, ...] = ()
    ollama_host: str | None = None
    ollama_model: str = DEFAULT_OLLAMA_MODEL
    ollama_models: tuple[str, ...] = ()
    demo: str = "auto"
    default_model: str | None = None  # "provider:model"; else the first configured
    # Defaults for a new conversation's settings (each conversation can change them).
    system_prompt: str = ""
    default_max_tokens: int | None = None  # None: the provider's own default
    default_temperature: float | None = None  # None: the provider's own default
    demo_tokens_per_s: float = 40.0
    # Per provider: concurrent streams, and the circuit breaker.
    provider_concurrency: int = 8
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    # Streaming upstream: on, with a fall back to plain requests after repeated stream breaks.
    upstream_streaming: bool = True
    stream_fallback_after: int = 2
    stream_fallback_s: float = 300.0
    # After a restart: continue interrupted answers by themselves, at most this often per answer.
    auto_continue: bool = True
    auto_continue_max: int = 2
    # Delivery.
    heartbeat_interval_s: float = 15.0
    sse_retry_ms: int = 1000
    log_flush_interval_s: float = 0.05
    # Lifecycle log lines carry message text (question, answer) only when this is on: debugging.
    log_content: bool = False
    # Input limits.
    max_request_bytes: int = 256 * 1024
    max_content_chars: int = 100_000
    max_tokens_cap: int = 32_768
    # Upstream timeouts (seconds).
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    first_token_timeout_s: float = 60.0
    idle_timeout_s: float = 30.0
    run_deadline_s: float = 900.0
    # Retries: attempts in all, backoff with full jitter, and the time within which they may start.
    retry_max_attempts: int = 6
    retry_base_delay_s: float = 1.0
    retry_max_delay_s: float = 30.0
    retry_budget_s: float = 180.0
    # Tokens answers may use per UTC day (None: no budget).
    daily_token_budget: int | None = None
    # Conversation titles: "question" (its first words) or "model" (suggested after the first answer).
    titles: str = "question"
    # Chaos mode (faults injected on purpose, for demos): on at start, and which faults (empty: all).
    chaos: bool = False
    chaos_faults: tuple[str, ...] = ()
    # The benchmark's baseline page (bench/reflex_baseline.py, M8); never on in production.
    bench_pages: bool = False

    @property
    def openai_enabled(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def anthropic_enabled(self) -> bool:
        return bool(self.anthropic_api_key or self.anthropic_base_url)

    @property
    def ollama_enabled(self) -> bool:
        return bool(self.ollama_host)

    @property
    def demo_enabled(self) -> bool:
        if self.demo != "auto":
            return self.demo == "on"
        return not (self.openai_enabled or self.anthropic_enabled or self.ollama_enabled)

    def check_exposure(self) -> None:
        """Refuse an instance without authentication on an address other people can reach."""
        if self.auth == "none" and not _is_loopback(self.host):
            raise SettingsError(
                f"UNBROKEN_HOST={self.host} makes Unbroken reachable from other machines, but UNBROKEN_AUTH is "
                "none (no login). Set UNBROKEN_AUTH=password (local accounts) or UNBROKEN_AUTH=proxy (a login "
                "proxy in front), or bind to 127.0.0.1."
            )
        if self.auth == "proxy" and not self.trusted_proxies:
            raise SettingsError("UNBROKEN_AUTH=proxy needs UNBROKEN_TRUSTED_PROXIES: the addresses of the proxy "
                                "that sets the user header (e.g. 127.0.0.1).")

    def secrets(self) -> tuple[str, ...]:
        """Every configured key, for masking."""
        return tuple(k for k in (self.openai_api_key, self.anthropic_api_key) if k)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        max_tokens_cap = reader.integer("UNBROKEN_MAX_TOKENS_CAP", 32_768, low=1)
        settings = cls(
            database_url=reader.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=reader.optional("REDIS_URL"),
            run_lease_s=reader.number("UNBROKEN_RUN_LEASE_S", 5.0, low=0.5),
            port=reader.integer("PORT", 3000, low=1, high=65535),
            host=reader.text("UNBROKEN_HOST", "127.0.0.1"),
            auth=reader.choice("UNBROKEN_AUTH", "none", AUTH_MODES),
            trusted_proxies=reader.networks("UNBROKEN_TRUSTED_PROXIES"),
            proxy_user_header=reader.text("UNBROKEN_PROXY_USER_HEADER", "Remote-User"),
            signup=reader.choice("UNBROKEN_SIGNUP", "invite", SIGNUP_MODES),
            session_days=reader.number("UNBROKEN_SESSION_DAYS", 30.0, low=0.01),
            login_max_failures=reader.integer("UNBROKEN_LOGIN_MAX_FAILURES", 5, low=1),
            login_lockout_s=reader.number("UNBROKEN_LOGIN_LOCKOUT_S", 60.0, low=0.0),
            allowed_origins=reader.origins("UNBROKEN_ALLOWED_ORIGINS"),
            messages_per_minute=reader.integer("UNBROKEN_MESSAGES_PER_MINUTE", 60, low=1),
            concurrent_runs=reader.integer("UNBROKEN_CONCURRENT_RUNS", 2, low=1),
            openai_api_key=reader.optional("OPENAI_API_KEY"),
            openai_base_url=reader.optional("OPENAI_BASE_URL"),
            openai_model=reader.text("OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            openai_models=reader.names("OPENAI_MODELS"),
            openai_api=reader.choice("UNBROKEN_OPENAI_API", "chat", OPENAI_APIS),
            anthropic_api_key=reader.optional("ANTHROPIC_API_KEY"),
            anthropic_base_url=reader.optional("ANTHROPIC_BASE_URL"),
            anthropic_model=reader.text("ANTHROPIC_MODEL", DEFAULT_ANTHROPIC_MODEL),
            anthropic_models=reader.names("ANTHROPIC_MODELS"),
            ollama_host=reader.optional("OLLAMA_HOST"),
            ollama_model=reader.text("OLLAMA_MODEL", DEFAULT_OLLAMA_MODEL),
            ollama_models=reader.names("OLLAMA_MODELS"),
            demo=reader.choice("UNBROKEN_DEMO", "auto", DEMO_MODES),
            default_model=reader.optional("UNBROKEN_DEFAULT_MODEL"),
            system_prompt=reader.text("UNBROKEN_SYSTEM_PROMPT", ""),
            default_max_tokens=reader.integer("UNBROKEN_MAX_TOKENS", None, low=1, high=max_tokens_cap),
            default_temperature=reader.number("UNBROKEN_TEMPERATURE", None, low=0.0, high=MAX_TEMPERATURE),
            provider_concurrency=reader.integer("UNBROKEN_PROVIDER_CONCURRENCY", 8, low=1),
            breaker_failures=reader.integer("UNBROKEN_BREAKER_FAILURES", 5, low=1),
            breaker_cooldown_s=reader.number("UNBROKEN_BREAKER_COOLDOWN_S", 30.0, low=0.0),
            upstream_streaming=reader.choice("UNBROKEN_UPSTREAM_STREAMING", "on", ("on", "off")) == "on",
            stream_fallback_after=reader.integer("UNBROKEN_STREAM_FALLBACK_AFTER", 2, low=1),
            stream_fallback_s=reader.number("UNBROKEN_STREAM_FALLBACK_S", 300.0, low=0.0),
            demo_tokens_per_s=reader.number("UNBROKEN_DEMO_TOKENS_PER_S", 40.0, low=0.1),
            auto_continue=reader.choice("UNBROKEN_AUTO_CONTINUE", "on", ("on", "off")) == "on",
            auto_continue_max=reader.integer("UNBROKEN_AUTO_CONTINUE_MAX", 2, low=0),
            heartbeat_interval_s=reader.number("UNBROKEN_HEARTBEAT_S", 15.0, low=0.05),
            sse_retry_ms=reader.integer("UNBROKEN_SSE_RETRY_MS", 1000, low=0),
            log_flush_interval_s=reader.number("UNBROKEN_LOG_FLUSH_MS", 50.0, low=1.0) / 1000,
            log_content=reader.choice("UNBROKEN_LOG_CONTENT", "off", ("on", "off")) == "on",
            max_request_bytes=reader.integer("UNBROKEN_MAX_REQUEST_BYTES", 256 * 1024, low=1024),
            max_content_chars=reader.integer("UNBROKEN_MAX_CONTENT_CHARS", 100_000, low=1),
            max_tokens_cap=max_tokens_cap,
            connect_timeout_s=reader.number("UNBROKEN_CONNECT_TIMEOUT_S", 10.0, low=0.01),
            read_timeout_s=reader.number("UNBROKEN_READ_TIMEOUT_S", 120.0, low=0.01),
            first_token_timeout_s=reader.number("UNBROKEN_FIRST_TOKEN_TIMEOUT_S", 60.0, low=0.01),
            idle_timeout_s=reader.number("UNBROKEN_IDLE_TIMEOUT_S", 30.0, low=0.01),
            run_deadline_s=reader.number("UNBROKEN_RUN_DEADLINE_S", 900.0, low=1.0),
            retry_max_attempts=reader.integer("UNBROKEN_RETRY_MAX_ATTEMPTS", 6, low=1),
            retry_base_delay_s=reader.number("UNBROKEN_RETRY_BASE_DELAY_S", 1.0, low=0.0),
            retry_max_delay_s=reader.number("UNBROKEN_RETRY_MAX_DELAY_S", 30.0, low=0.0),
            daily_token_budget=reader.integer("UNBROKEN_DAILY_TOKEN_BUDGET", None, low=1),
            titles=reader.choice("UNBROKEN_TITLES", "question", ("question", "model")),
            chaos=reader.choice("UNBROKEN_CHAOS", "off", ("on", "off")) == "on",
            chaos_faults=reader.names("UNBROKEN_CHAOS_FAULTS"),
            bench_pages=reader.choice("UNBROKEN_BENCH_PAGES", "off", ("on", "off")) == "on",
            retry_budget_s=reader.number("UNBROKEN_RETRY_BUDGET_S", 180.0, low=0.0),
        )
        settings.check_exposure()
        return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class _Reader:
    env: Mapping[str, str]

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, e.g. ``OPENAI_MODELS=gpt-4o-mini,gpt-4o``."""
        return tuple(part.strip() for part in (self.optional(name) or "").split(",") if part.strip())

    def networks(self, name: str) -> tuple[str, ...]:
        """Addresses or networks (``127.0.0.1, 10.0.0.0/8``), each checked."""
        for value in self.names(name):
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise SettingsError(f"{name}: {value!r} is not an address or network") from None
        return self.names(name)

    def origins(self, name: str) -> tuple[str, ...]:
        """Origins as browsers send them: ``https://chat.example.com`` (no path, no slash)."""
        for value in self.names(name):
            scheme, _, rest = value.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest:
                raise SettingsError(f"{name}: {value!r} is not an origin like https://chat.example.com")
        return self.names(name)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.optional(name) or default).lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def number(self, name: str, default: float | None, *, low: float, high: float | None = None) -> float | None:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            raise SettingsError(f"{name} must be between {low} and {high or '∞'}, got {raw!r}")
        return value

    def integer(self, name: str, default: int | None, *, low: int, high: int | None = None) -> int | None:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            raise SettingsError(f"{name} must be between {low} and {high or '∞'}, got {raw!r}")
        return value

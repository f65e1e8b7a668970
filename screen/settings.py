"""Configuration, read once from the environment and frozen.

The embedded defaults (SQLite file, mail written to a folder, in-process jobs)
need no configuration at all; production refuses to start with the default secret.
"""

from __future__ import annotations

import functools
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_SECRET = "insecure-dev-secret-change-me"  # noqa: S105 - the sentinel production refuses


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA names this machine knows; read once (the scan takes most of a second)."""
    return frozenset(zoneinfo.available_timezones())


# Retention periods anyone may set, in days: at least a day, at most ten years.
MIN_RETAIN_DAYS, MAX_RETAIN_DAYS = 1, 3650


class SettingsError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///screen.db"
    # PostgreSQL connections each process keeps (web process or worker): processes ×
    # this must stay under the server's max_connections (docs/operations.md#scale-out).
    database_pool_size: int = 20
    # "transaction" when SCREEN_DATABASE_URL points at PgBouncer in transaction pooling
    # mode: no prepared-statement cache, and no statement outside a transaction
    # (screen.platform.db.create_engine, docs/operations.md#pgbouncer).
    database_pooler: str | None = None
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_dir: Path = Path("mail")
    mail_from: str = "Screen <screen@localhost>"
    redis_url: str | None = None
    production: bool = False
    prompts_dir: Path | None = None
    answer_max_bytes: int = 64 * 1024
    grace_seconds: int = 60
    # Per attempt: past this the composition record stops growing and says it is incomplete.
    composition_max_bytes: int = 2 * 1024 * 1024
    sweep_interval_seconds: float = 5.0
    debug: bool = False
    metrics_token: str | None = None
    # Production refuses to serve /metrics to anyone without a token unless this says so.
    metrics_public: bool = False
    worker_metrics_port: int | None = None
    # Let webhooks and ATS callbacks reach loopback, private, link-local and other
    # non-public addresses (local development, the test suite); see screen.platform.outbound.
    allow_private_targets: bool = False
    # Notifications (screen.review.notifications): the local hour on business days from
    # which each person's daily emails go out, and the time zone of users who chose none
    # (also the one a screen's chat channel is notified in).
    notify_hour: int = 9
    notify_time_zone: str = "UTC"
    # Browser tests only: every attempt started gets this many seconds instead of the
    # screen's duration, so a real page can reach its deadline within a test.
    test_duration_seconds: int | None = None
    # Single sign-on with OpenID Connect (screen.accounts.oidc, docs/single-sign-on.md):
    # on when an issuer is set. Roles come from a claim through a map ("group=role,..."),
    # else the default role; `oidc_create_accounts` lets a first sign-in make the account.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_roles_claim: str | None = None
    oidc_role_map: tuple[tuple[str, str], ...] = ()
    oidc_default_role: str | None = None
    oidc_create_accounts: bool = False
    oidc_link_by_email: bool = True
    oidc_clock_skew_seconds: int = 60
    oidc_display_name: str = "single sign-on"
    password_sign_in: bool = True
    # Retention (screen.operations.retention, docs/privacy.md): a candidate's personal data
    # is erased this many days after their decision, or after their link expired unused.
    # An admin may set other values on the privacy page; these are the defaults.
    retain_decided_days: int = 365
    retain_unused_days: int = 90
    # Voluntary self-identification after submitting and the adverse-impact page
    # (screen.fairness, docs/fairness.md): on unless turned off; the questions come from a
    # JSON or YAML file when one is named; groups smaller than the minimum are never counted.
    self_id: bool = True
    self_id_categories: Path | None = None
    fairness_minimum_group: int = 5
    # The model rater (screen.review.model_rater, docs/model-rater.md): off unless a base URL
    # of an OpenAI-compatible Chat Completions server is set (".../v1"). It rates answers
    # as one more rater, stored apart from the human reviews; it never decides.
    model_url: str | None = None
    model_name: str = "default"
    model_api_key: str | None = None
    # Per call. A rating is at most two calls (a reply and its one retry), and both must
    # fit the slow outbox job's 540 s (`outbox.SLOW_JOB_SECONDS`), hence at most 240 s.
    # A GPU or hosted server answers in seconds; a CPU server needs minutes.
    model_timeout_seconds: float = 25.0
    # How the reply's JSON Schema is sent: OpenAI's `json_schema` (vLLM, llama.cpp's C++
    # server, hosted APIs) or `json_object` with a `schema` key (llama-cpp-python's server).
    model_response_format: str = "json_schema"
    # Ratings one process runs at once; the rest wait their turn. A CPU server (llama.cpp)
    # computes one reply at a time, so calls beyond it only queue inside the server, each
    # against its timeout: set 1 there. The default lets an arq worker's jobs (its
    # `max_jobs`, 20) all call a server that serves many at once.
    model_concurrency: int = 20
    # The validity rule: what the model must show on a prompt before its rating may ask
    # for one more human review (reviewers.model_agreement.validity).
    model_min_answers: int = 50
    model_min_alpha: float = 0.70
    model_min_adjacent: float = 0.90
    # The check score: a valid model whose weighted score is further than this (in levels)
    # from the reviews', or whose levels the rule would decide otherwise, asks for one
    # more human review before the decision (screen.review.model_check).
    model_check_margin: float = 0.75

    @property
    def model_enabled(self) -> bool:
        return self.model_url is not None

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> Settings:
        if self.database_pool_size < 1:
            raise SettingsError("SCREEN_DATABASE_POOL_SIZE must be at least 1.")
        if self.database_pooler not in (None, "transaction"):
            raise SettingsError(
                "SCREEN_DATABASE_POOLER must be empty or 'transaction' (PgBouncer's "
                f"pool_mode = transaction), got {self.database_pooler!r}."
            )
        if self.production and self.secret_key == DEFAULT_SECRET:
            raise SettingsError(
                "SCREEN_SECRET_KEY must be set to a long random value in production "
                "(SCREEN_ENV=production); refusing to start with the default secret."
            )
        if self.production and self.debug:
            raise SettingsError("SCREEN_DEBUG must not be set when SCREEN_ENV=production.")
        if self.production and self.test_duration_seconds is not None:
            raise SettingsError(
                "SCREEN_TEST_DURATION_SECONDS is for tests only and must not be set when "
                "SCREEN_ENV=production."
            )
        if self.production and not self.metrics_token and not self.metrics_public:
            raise SettingsError(
                "SCREEN_METRICS_TOKEN must be set when SCREEN_ENV=production: /metrics shows "
                "the state of every attempt, queue and outbox to whoever asks. Set "
                "SCREEN_METRICS_PUBLIC=1 to serve it without a token on purpose (for example "
                "behind a private network)."
            )
        if self.production and self.metrics_token and len(self.metrics_token.strip()) < 16:
            raise SettingsError(
                "SCREEN_METRICS_TOKEN must be at least 16 characters when SCREEN_ENV=production "
                "(a token anyone can guess protects nothing)."
            )
        if self.test_duration_seconds is not None and not 1 <= self.test_duration_seconds <= 3600:
            raise SettingsError("SCREEN_TEST_DURATION_SECONDS must be from 1 to 3600.")
        if not 0 <= self.notify_hour <= 23:
            raise SettingsError("SCREEN_NOTIFY_HOUR must be a whole hour from 0 to 23.")
        if self.notify_time_zone not in time_zone_names():
            raise SettingsError(
                "SCREEN_NOTIFY_TIME_ZONE must be an IANA time zone name such as UTC or "
                f"Europe/Berlin; got {self.notify_time_zone!r}."
            )
        if len(self.secret_key) < 16:
            raise SettingsError("SCREEN_SECRET_KEY must be at least 16 characters.")
        if not 1024 <= self.answer_max_bytes <= 512 * 1024:
            raise SettingsError("SCREEN_ANSWER_MAX_BYTES must be from 1024 to 524288.")
        if not 64 * 1024 <= self.composition_max_bytes <= 64 * 1024 * 1024:
            raise SettingsError("SCREEN_COMPOSITION_MAX_BYTES must be from 65536 to 67108864.")
        if not 0 <= self.grace_seconds <= 600:
            raise SettingsError("SCREEN_GRACE_SECONDS must be from 0 to 600.")
        self._check_model()
        if not 3 <= self.fairness_minimum_group <= 100:
            raise SettingsError("SCREEN_FAIRNESS_MINIMUM_GROUP must be from 3 to 100.")
        self._check_oidc()
        return self

    def _check_model(self) -> None:
        if self.model_url is not None and not self.model_url.startswith(("http://", "https://")):
            raise SettingsError(
                "SCREEN_MODEL_URL must be the http(s) base URL of an OpenAI-compatible server, "
                f"such as http://127.0.0.1:8080/v1; got {self.model_url!r}."
            )
        if not 1 <= self.model_timeout_seconds <= 240:
            raise SettingsError(
                "SCREEN_MODEL_TIMEOUT_SECONDS must be from 1 to 240 (a reply and its one "
                "retry must fit the model job's 540 s)."
            )
        if self.model_response_format not in ("json_schema", "json_object"):
            raise SettingsError(
                "SCREEN_MODEL_RESPONSE_FORMAT must be json_schema or json_object; "
                f"got {self.model_response_format!r}."
            )
        if not self.model_name.strip() or len(self.model_name) > 100:
            raise SettingsError("SCREEN_MODEL_NAME must be 1 to 100 characters.")
        if not 0 < self.model_check_margin <= 10:
            raise SettingsError("SCREEN_MODEL_CHECK_MARGIN must be above 0 and at most 10.")
        if self.model_min_answers < 1:
            raise SettingsError("SCREEN_MODEL_MIN_ANSWERS must be at least 1.")
        if not 1 <= self.model_concurrency <= 64:
            raise SettingsError("SCREEN_MODEL_CONCURRENCY must be from 1 to 64.")
        if not (0 <= self.model_min_alpha <= 1 and 0 <= self.model_min_adjacent <= 1):
            raise SettingsError(
                "SCREEN_MODEL_MIN_ALPHA and SCREEN_MODEL_MIN_ADJACENT must be from 0 to 1."
            )

    def _check_oidc(self) -> None:
        roles = ("admin", "recruiter", "reviewer", "lead", "hiring_manager")
        if self.oidc_issuer is None:
            if not self.password_sign_in:
                raise SettingsError(
                    "SCREEN_PASSWORD_SIGN_IN=0 needs single sign-on (SCREEN_OIDC_ISSUER): "
                    "otherwise nobody could sign in."
                )
            return
        if not self.oidc_issuer.startswith(("https://", "http://")):
            raise SettingsError(
                f"SCREEN_OIDC_ISSUER must be the provider's https:// URL; got {self.oidc_issuer!r}."
            )
        if self.production and not self.oidc_issuer.startswith("https://"):
            raise SettingsError("SCREEN_OIDC_ISSUER must use https when SCREEN_ENV=production.")
        if not self.oidc_client_id or not self.oidc_client_secret:
            raise SettingsError(
                "SCREEN_OIDC_CLIENT_ID and SCREEN_OIDC_CLIENT_SECRET must be set with "
                "SCREEN_OIDC_ISSUER (register Screen as a confidential client at the provider)."
            )
        if "openid" not in self.oidc_scopes.split():
            raise SettingsError(
                f"SCREEN_OIDC_SCOPES must include openid; got {self.oidc_scopes!r}."
            )
        if not 0 <= self.oidc_clock_skew_seconds <= 60:
            raise SettingsError("SCREEN_OIDC_CLOCK_SKEW_SECONDS must be from 0 to 60.")
        if self.oidc_role_map and not self.oidc_roles_claim:
            raise SettingsError(
                "SCREEN_OIDC_ROLE_MAP needs SCREEN_OIDC_ROLES_CLAIM (which claim to read)."
            )
        for value, role in self.oidc_role_map:
            if role not in roles:
                raise SettingsError(
                    f"SCREEN_OIDC_ROLE_MAP maps {value!r} to {role!r}, which is not a role; "
                    f"roles are {', '.join(roles)}."
                )
        if self.oidc_default_role is not None and self.oidc_default_role not in roles:
            raise SettingsError(
                f"SCREEN_OIDC_DEFAULT_ROLE must be one of {', '.join(roles)}; "
                f"got {self.oidc_default_role!r}."
            )
        for name, days in (
            ("SCREEN_RETAIN_DECIDED_DAYS", self.retain_decided_days),
            ("SCREEN_RETAIN_UNUSED_DAYS", self.retain_unused_days),
        ):
            if not MIN_RETAIN_DAYS <= days <= MAX_RETAIN_DAYS:
                raise SettingsError(
                    f"{name} must be a number of days from {MIN_RETAIN_DAYS} to "
                    f"{MAX_RETAIN_DAYS}, got {days}."
                )
        if not 1 <= len(self.oidc_display_name) <= 60:
            raise SettingsError("SCREEN_OIDC_DISPLAY_NAME must be 1 to 60 characters.")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}.") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}.") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0 (true or false), got {raw!r}.")


def _role_map(raw: str) -> tuple[tuple[str, str], ...]:
    """`value=role,value=role`: a value of the roles claim (a group name) and our role."""
    pairs = []
    for item in raw.split(","):
        if not item.strip():
            continue
        value, equals, role = item.rpartition("=")
        if not equals or not value.strip() or not role.strip():
            raise SettingsError(
                "SCREEN_OIDC_ROLE_MAP must be comma-separated value=role pairs such as "
                f"'screen-leads=lead,screen-recruiters=recruiter'; got {item.strip()!r}."
            )
        pairs.append((value.strip(), role.strip().lower()))
    return tuple(pairs)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    defaults = Settings()
    production = env.get("SCREEN_ENV", "").lower() == "production"
    prompts_dir = env.get("SCREEN_PROMPTS_DIR")
    settings = Settings(
        database_url=env.get("SCREEN_DATABASE_URL") or defaults.database_url,
        database_pool_size=_int(env, "SCREEN_DATABASE_POOL_SIZE", defaults.database_pool_size),
        database_pooler=(env.get("SCREEN_DATABASE_POOLER") or "").strip().lower() or None,
        secret_key=env.get("SCREEN_SECRET_KEY") or defaults.secret_key,
        base_url=(env.get("SCREEN_BASE_URL") or defaults.base_url).rstrip("/"),
        smtp_url=env.get("SCREEN_SMTP_URL") or None,
        mail_dir=Path(env.get("SCREEN_MAIL_DIR") or defaults.mail_dir),
        mail_from=env.get("SCREEN_MAIL_FROM") or defaults.mail_from,
        redis_url=env.get("SCREEN_REDIS_URL") or None,
        production=production,
        prompts_dir=Path(prompts_dir) if prompts_dir else None,
        answer_max_bytes=_int(env, "SCREEN_ANSWER_MAX_BYTES", defaults.answer_max_bytes),
        grace_seconds=_int(env, "SCREEN_GRACE_SECONDS", defaults.grace_seconds),
        composition_max_bytes=_int(
            env, "SCREEN_COMPOSITION_MAX_BYTES", defaults.composition_max_bytes
        ),
        sweep_interval_seconds=_float(
            env, "SCREEN_SWEEP_INTERVAL_SECONDS", defaults.sweep_interval_seconds
        ),
        debug=env.get("SCREEN_DEBUG", "") == "1",
        metrics_token=env.get("SCREEN_METRICS_TOKEN") or None,
        metrics_public=env.get("SCREEN_METRICS_PUBLIC", "") == "1",
        worker_metrics_port=_int(env, "SCREEN_WORKER_METRICS_PORT", 0) or None,
        allow_private_targets=env.get("SCREEN_ALLOW_PRIVATE_TARGETS", "") == "1",
        notify_hour=_int(env, "SCREEN_NOTIFY_HOUR", defaults.notify_hour),
        notify_time_zone=env.get("SCREEN_NOTIFY_TIME_ZONE") or defaults.notify_time_zone,
        test_duration_seconds=(
            _int(env, "SCREEN_TEST_DURATION_SECONDS", 0)
            if env.get("SCREEN_TEST_DURATION_SECONDS")
            else None
        ),
        oidc_issuer=(env.get("SCREEN_OIDC_ISSUER") or "").strip() or None,
        oidc_client_id=env.get("SCREEN_OIDC_CLIENT_ID") or None,
        oidc_client_secret=env.get("SCREEN_OIDC_CLIENT_SECRET") or None,
        oidc_scopes=" ".join((env.get("SCREEN_OIDC_SCOPES") or defaults.oidc_scopes).split()),
        oidc_roles_claim=env.get("SCREEN_OIDC_ROLES_CLAIM") or None,
        oidc_role_map=_role_map(env.get("SCREEN_OIDC_ROLE_MAP") or ""),
        oidc_default_role=(env.get("SCREEN_OIDC_DEFAULT_ROLE") or "").strip().lower() or None,
        oidc_create_accounts=_bool(env, "SCREEN_OIDC_CREATE_ACCOUNTS", False),
        oidc_link_by_email=_bool(env, "SCREEN_OIDC_LINK_BY_EMAIL", True),
        oidc_clock_skew_seconds=_int(
            env, "SCREEN_OIDC_CLOCK_SKEW_SECONDS", defaults.oidc_clock_skew_seconds
        ),
        oidc_display_name=(env.get("SCREEN_OIDC_DISPLAY_NAME") or "").strip()
        or defaults.oidc_display_name,
        password_sign_in=_bool(env, "SCREEN_PASSWORD_SIGN_IN", True),
        retain_decided_days=_int(env, "SCREEN_RETAIN_DECIDED_DAYS", defaults.retain_decided_days),
        retain_unused_days=_int(env, "SCREEN_RETAIN_UNUSED_DAYS", defaults.retain_unused_days),
        self_id=_bool(env, "SCREEN_SELF_ID", True),
        self_id_categories=Path(env["SCREEN_SELF_ID_CATEGORIES"])
        if env.get("SCREEN_SELF_ID_CATEGORIES")
        else None,
        fairness_minimum_group=_int(
            env, "SCREEN_FAIRNESS_MINIMUM_GROUP", defaults.fairness_minimum_group
        ),
        model_url=(env.get("SCREEN_MODEL_URL") or "").strip().rstrip("/") or None,
        model_name=(env.get("SCREEN_MODEL_NAME") or "").strip() or defaults.model_name,
        model_api_key=env.get("SCREEN_MODEL_API_KEY") or None,
        model_timeout_seconds=_float(
            env, "SCREEN_MODEL_TIMEOUT_SECONDS", defaults.model_timeout_seconds
        ),
        model_response_format=(env.get("SCREEN_MODEL_RESPONSE_FORMAT") or "").strip()
        or defaults.model_response_format,
        model_concurrency=_int(env, "SCREEN_MODEL_CONCURRENCY", defaults.model_concurrency),
        model_min_answers=_int(env, "SCREEN_MODEL_MIN_ANSWERS", defaults.model_min_answers),
        model_check_margin=_float(env, "SCREEN_MODEL_CHECK_MARGIN", defaults.model_check_margin),
        model_min_alpha=_float(env, "SCREEN_MODEL_MIN_ALPHA", defaults.model_min_alpha),
        model_min_adjacent=_float(env, "SCREEN_MODEL_MIN_ADJACENT", defaults.model_min_adjacent),
    )
    return settings.check()

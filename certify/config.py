"""Configuration from environment variables, with defaults that need nothing installed.

DATABASE_URL  default: SQLite file ``certify.db`` in the instance folder
SECRET_KEY    default: generated once and kept in ``instance/secret_key`` (one process only: several processes or
              servers must share an explicit SECRET_KEY, see ``certify.wsgi``)
REDIS_URL     optional: Socket.IO message queue and rate-limit storage for multi-process runs
CERTIFY_INSTANCE  optional: where the instance folder lives
CERTIFY_ENV   ``embedded`` (default with SQLite: demo / one-command serve) or ``production`` (default with any other
              database): production turns on Secure cookies and HSTS and requires an explicit SECRET_KEY
CERTIFY_SECURE_COOKIES / CERTIFY_HSTS  1/0: override the production default (plain-HTTP intranets set both to 0)
CERTIFY_FORCE_HTTPS   1: redirect HTTP to HTTPS (behind TLS)
TRUSTED_PROXIES       number of trusted reverse proxies in front (nginx: 1) for X-Forwarded-For/-Proto/-Host
WEB_THREADS           threads per web process (held Socket.IO connections + requests in flight), default 256
DB_POOL_SIZE / DB_POOL_TIMEOUT  default: min(WEB_THREADS, 16) + 2 connections per process, 5 s wait, then 503 +
              Retry-After
SQLITE_BUSY_TIMEOUT   seconds a SQLite write waits for the write lock before 503 + Retry-After (default 10)
LOGIN_HASH_CONCURRENCY / LOGIN_HASH_WAIT_SECONDS  password checks at once per process (default: its cores) and how
              long a login waits for one before 503 + Retry-After (default 10 s): ``certify.login_gate``
PASSWORD_REHASH_ON_LOGIN  1 (default): a successful login re-hashes a password whose hash is weaker than the policy
              (``services.passwords.needs_rehash``); 0 leaves hashes as they are (benchmarks with a shared light hash)
DB_PING_IDLE_SECONDS  a pooled connection idle this long is pinged before use (default 2; pool_pre_ping is off)
SOCKETIO_CHANNEL      Redis pub/sub channel of this deployment (default derived from the database)
SOCKETIO_ALLOWED_ORIGINS  comma-separated origins allowed besides the page's own (default none)
LOG_LEVEL / LOG_FORMAT  default INFO / ``kv`` (key=value); ``json`` for one JSON object per line
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    key_file.write_text(key)
    try:
        key_file.chmod(0o600)
    except OSError:  # pragma: no cover - filesystems without chmod
        pass
    return key


def normalise_database_url(url: str) -> str:
    """Accept the common ``postgres://`` / ``postgresql://`` forms and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.strip() else default


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def load_config(instance_path: Path) -> dict:
    instance_path.mkdir(parents=True, exist_ok=True)
    db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'certify.db'}"
    redis_url = os.environ.get("REDIS_URL") or None
    env = (os.environ.get("CERTIFY_ENV") or ("embedded" if is_sqlite(db_url) else "production")).strip().lower()
    production = env == "production"
    return {
        "CERTIFY_ENV": env,
        "SECRET_KEY": _secret_key(instance_path),
        "SECRET_KEY_FROM_ENV": bool(os.environ.get("SECRET_KEY")),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(db_url),
        "REDIS_URL": redis_url,
        # serving (certify.wsgi, certify/gunicorn_conf.py, certify serve)
        "WEB_THREADS": _int("WEB_THREADS", 256),
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 0) or None,  # None: derived from WEB_THREADS
        "DB_POOL_TIMEOUT": float(os.environ.get("DB_POOL_TIMEOUT") or 5),
        "SQLITE_BUSY_TIMEOUT": float(os.environ.get("SQLITE_BUSY_TIMEOUT") or 10),
        "RETRY_AFTER_SECONDS": _int("RETRY_AFTER_SECONDS", 5),
        "LOGIN_HASH_CONCURRENCY": _int("LOGIN_HASH_CONCURRENCY", 0) or None,  # None: this process's cores
        "LOGIN_HASH_WAIT_SECONDS": float(os.environ.get("LOGIN_HASH_WAIT_SECONDS") or 10),
        "PASSWORD_REHASH_ON_LOGIN": _flag("PASSWORD_REHASH_ON_LOGIN", True),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "FORCE_HTTPS": _flag("CERTIFY_FORCE_HTTPS", False),
        "SESSION_COOKIE_SECURE": _flag("CERTIFY_SECURE_COOKIES", production),
        "REMEMBER_COOKIE_SECURE": _flag("CERTIFY_SECURE_COOKIES", production),
        "HSTS": _flag("CERTIFY_HSTS", production),
        "SOCKETIO_CHANNEL": os.environ.get("SOCKETIO_CHANNEL") or None,  # None: derived from the database
        "SOCKETIO_ALLOWED_ORIGINS": [o.strip().rstrip("/") for o in
                                     (os.environ.get("SOCKETIO_ALLOWED_ORIGINS") or "").split(",") if o.strip()],
        "LOG_LEVEL": (os.environ.get("LOG_LEVEL") or "INFO").upper(),
        "LOG_FORMAT": (os.environ.get("LOG_FORMAT") or "kv").lower(),
        "STATIC_HASHED_MAX_AGE": 365 * 24 * 3600,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        # login throttling (certify.login_throttle); storage follows REDIS_URL when set
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # write limits (certify.rate_limits): per attempt (and user) for the candidate API, per Socket.IO connection
        "EXAM_SAVE_RATE_LIMIT": os.environ.get("EXAM_SAVE_RATE_LIMIT", "120 per minute"),
        "EXAM_FLAG_RATE_LIMIT": os.environ.get("EXAM_FLAG_RATE_LIMIT", "120 per minute"),
        "EXAM_EVENT_RATE_LIMIT": os.environ.get("EXAM_EVENT_RATE_LIMIT", "60 per minute"),
        "SOCKET_EVENT_RATE_LIMIT": os.environ.get("SOCKET_EVENT_RATE_LIMIT", "300 per minute"),
        # exam timing defaults (DOMAIN.md); seconds unless noted
        "EXAM_SAVE_GRACE_SECONDS": int(os.environ.get("EXAM_SAVE_GRACE_SECONDS", "5")),
        "EXAM_SWEEP_INTERVAL_SECONDS": int(os.environ.get("EXAM_SWEEP_INTERVAL_SECONDS", "5")),
        "EXAM_SWEEPER_ENABLED": os.environ.get("EXAM_SWEEPER_ENABLED", "1") == "1",
        # Sessions with more candidates get their papers from the worker (job exam.papers), not inside the POST.
        "EXAM_PAPER_JOB_MIN": int(os.environ.get("EXAM_PAPER_JOB_MIN", "300")),
        # Roster files with more rows are imported by the worker (job roster.import) after a confirmation.
        "ROSTER_JOB_MIN_ROWS": _int("ROSTER_JOB_MIN_ROWS", 500),
        # Rounds with more candidates get their whole-round exports from the worker (job export.file, a download
        # link on the job page, kept EXPORT_MAX_AGE_SECONDS), levels their 确认并冻结 (job results.confirm).
        "EXPORT_JOB_MIN_CANDIDATES": _int("EXPORT_JOB_MIN_CANDIDATES", 1000),
        "EXPORT_MAX_AGE_SECONDS": _int("EXPORT_MAX_AGE_SECONDS", 24 * 3600),
        "RESULTS_JOB_MIN_CANDIDATES": _int("RESULTS_JOB_MIN_CANDIDATES", 1000),
        # Bank, work-record and panelist files with more rows: the same, jobs bank.import, results.import_records and
        # defense.import_panelists.
        "BANK_JOB_MIN_ROWS": _int("BANK_JOB_MIN_ROWS", 500),
        "RECORDS_JOB_MIN_ROWS": _int("RECORDS_JOB_MIN_ROWS", 500),
        "PANELIST_JOB_MIN_ROWS": _int("PANELIST_JOB_MIN_ROWS", 500),
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai"),
        # 写回题库难度: only items with at least this many attempts in the session are written back
        "FACILITY_MIN_ATTEMPTS": _int("FACILITY_MIN_ATTEMPTS", 30),
        # notices (certify/notices): the delivery outbox, e-mail over SMTP, SMS through a gateway
        "NOTICE_DELIVERY_ENABLED": _flag("NOTICE_DELIVERY_ENABLED", True),
        "NOTICE_DELIVERY_INTERVAL_SECONDS": _int("NOTICE_DELIVERY_INTERVAL_SECONDS", 10),
        "NOTICE_DELIVERY_BATCH": _int("NOTICE_DELIVERY_BATCH", 500),
        "NOTICE_CHANNELS": os.environ.get("NOTICE_CHANNELS", "email,sms"),
        "NOTICE_MAX_ATTEMPTS": _int("NOTICE_MAX_ATTEMPTS", 8),
        "NOTICE_RETRY_BASE_SECONDS": _int("NOTICE_RETRY_BASE_SECONDS", 60),
        "NOTICE_RETRY_CAP_SECONDS": _int("NOTICE_RETRY_CAP_SECONDS", 6 * 3600),
        "NOTICE_LEASE_SECONDS": _int("NOTICE_LEASE_SECONDS", 300),
        "NOTICE_EMAIL_BACKEND": (os.environ.get("NOTICE_EMAIL_BACKEND")
                                 or ("smtp" if os.environ.get("SMTP_HOST") else "console")).lower(),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_SECURITY": (os.environ.get("SMTP_SECURITY") or "none").lower(),  # none | starttls | ssl
        "SMTP_TIMEOUT": _int("SMTP_TIMEOUT", 20),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "noreply@localhost"),
        "NOTICE_SMS_BACKEND": (os.environ.get("NOTICE_SMS_BACKEND") or "console").lower(),  # http | console | off
        "SMS_HTTP_URL": os.environ.get("SMS_HTTP_URL", ""),
        "SMS_HTTP_TOKEN": os.environ.get("SMS_HTTP_TOKEN", ""),
        "SMS_HTTP_TIMEOUT": _int("SMS_HTTP_TIMEOUT", 15),
        "SMS_FILE": os.environ.get("SMS_FILE", ""),
        "NOTICE_CONSOLE_FILE": os.environ.get("NOTICE_CONSOLE_FILE", ""),
    }


def default_channel(database_uri: str) -> str:
    """A Socket.IO channel per deployment: two deployments on one Redis never hear each other's rooms.
    Derived from the database (host, port, name): processes of one deployment share it by construction."""
    from sqlalchemy.engine import make_url

    url = make_url(database_uri)
    if url.get_backend_name() == "sqlite":
        return f"certify:{Path(url.database or 'memory').stem}"
    where = f"{url.host or 'local'}:{url.port or ''}".rstrip(":")
    return f"certify:{where}/{url.database}"


def derive(config) -> None:
    """Fill in the settings that follow from others, once the final configuration (tests included) is known:
    the database pool sized to the request concurrency, connect timeouts, the Socket.IO channel and async mode."""
    uri = config["SQLALCHEMY_DATABASE_URI"]
    # No ``pool_pre_ping`` (a round trip on every checkout, 0.85 ms of a save's CPU on PostgreSQL): a pooled
    # connection is pinged only when it sat idle in the pool for DB_PING_IDLE_SECONDS or more
    # (``install_idle_ping``); a connection cut while in use fails its statement, SQLAlchemy invalidates the pool
    # and the request answers 503 + Retry-After (certify.health), the next one connects afresh.
    options = {"pool_pre_ping": False}
    config.setdefault("DB_PING_IDLE_SECONDS", float(os.environ.get("DB_PING_IDLE_SECONDS") or 2))
    memory = uri in ("sqlite://", "sqlite:///:memory:") or ":memory:" in uri
    if not memory:
        # At most 16 requests of a process at the database at once (2 cores: more only queue inside PostgreSQL),
        # fewer with fewer threads, plus the sweeper and a spare. Beyond that a request waits DB_POOL_TIMEOUT
        # seconds and gets 503 + Retry-After (certify.health), never a 500; most threads of a process hold
        # Socket.IO connections and need no database connection.
        threads = int(config.get("WEB_THREADS") or 256)
        options["pool_size"] = config.get("DB_POOL_SIZE") or min(threads, 16) + 2
        options["max_overflow"] = 0
        options["pool_timeout"] = float(config.get("DB_POOL_TIMEOUT") or 5)
    if uri.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": 5}
    elif uri.startswith("sqlite") and not memory:
        # how long a write waits for SQLite's one write lock (BEGIN IMMEDIATE, certify.extensions) before the
        # request gets 503 + Retry-After
        options["connect_args"] = {"timeout": float(config.get("SQLITE_BUSY_TIMEOUT") or 10)}
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
    if not config.get("SOCKETIO_CHANNEL"):
        config["SOCKETIO_CHANNEL"] = default_channel(uri)
    if not config.get("SOCKETIO_ASYNC_MODE"):
        config["SOCKETIO_ASYNC_MODE"] = "gevent" if gevent_patched() else "threading"


def install_idle_ping(engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling without a round trip per request: a pooled connection that has been idle for
    ``idle_seconds`` or more is pinged when checked out, and a dead one is replaced before the request uses it
    (``DisconnectionError``: the pool retries with a new connection). Under load connections are back in use within
    milliseconds and are never pinged; after a quiet spell (or a database restart) the first use pings. SQLite
    files have no connection to lose."""
    import time

    from sqlalchemy import event, exc

    if engine.dialect.name == "sqlite" or idle_seconds < 0:
        return

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_connection, record):
        record.info["certify_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        since = record.info.pop("certify_idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or back in the pool a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as err:  # any failure to answer a ping: replace the connection
            raise exc.DisconnectionError(f"idle connection failed its ping: {type(err).__name__}") from err
        if alive is False:
            raise exc.DisconnectionError("idle connection failed its ping")


def gevent_patched() -> bool:
    """True in a gevent-monkey-patched process (gunicorn -k gevent, certify serve)."""
    import sys

    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


def shared_secret_problem(processes: int = 1, environ=None) -> str | None:
    """Why this process must not serve with the generated per-instance secret key, or None.

    Sessions and CSRF tokens are signed with SECRET_KEY: with several web processes (``processes`` > 1, or REDIS_URL
    set, which means several) or in production (CERTIFY_ENV, or any database but SQLite) every process must use the
    same explicit key; a generated ``instance/secret_key`` file is one process's own.
    """
    environ = os.environ if environ is None else environ
    if environ.get("SECRET_KEY"):
        return None
    reasons = []
    if processes > 1:
        reasons.append(f"{processes} 个 worker 进程")
    if environ.get("REDIS_URL"):
        reasons.append("设置了 REDIS_URL（多进程部署）")
    db_url = environ.get("DATABASE_URL") or "sqlite://"
    env = (environ.get("CERTIFY_ENV") or ("embedded" if is_sqlite(db_url) else "production")).strip().lower()
    if env == "production":
        reasons.append("生产模式（CERTIFY_ENV=production 或非 SQLite 数据库）")
    if not reasons:
        return None
    return ("拒绝启动：" + "、".join(reasons) + "时必须通过环境变量 SECRET_KEY 设置所有进程共用的密钥"
            "（例如 SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')，"
            "写入各进程共用的环境文件）。"
            " Refusing to start: set an explicit SECRET_KEY shared by every process.")

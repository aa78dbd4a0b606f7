"""Account operations: create, authenticate, passwords (chosen, one-time, reset), disable, end sessions.

Each function validates, changes the session's objects, audits and flushes; the caller's unit of work commits.
Plain-text passwords are never stored: a generated one-time password is returned to the caller to be shown
once (on a slip, a reset page, the CLI) and only its hash is kept (see ``services.passwords`` for the hash
parameters and their measured cost).
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from flask import current_app, has_request_context
from werkzeug.security import generate_password_hash

from . import login_gate, login_throttle
from .audit import audit
from .clock import utcnow
from .domain import CANDIDATE, PANELIST, ROLE_LABELS, SECRETARIAT, SUPERVISOR
from .errors import Conflict, DomainError, NotFound
from .extensions import db
from .models import User
from .services.passwords import (
    CHOSEN_HASH_METHOD,
    UNUSABLE_HASH,
    generate_password,
    hash_method,
    needs_rehash,
    password_problems,
    stored_method,
)
from .uow import release_connection

STAFF_ROLES = (SECRETARIAT, SUPERVISOR, PANELIST)
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")

__all__ = ["STAFF_ROLES", "LoginThrottled", "PasswordRejected", "authenticate", "change_password", "create_staff",
           "create_user", "disable_account", "enable_account", "end_sessions", "generate_password",
           "issue_generated_password", "issue_slip_passwords", "reset_password", "user_by_username"]


class PasswordRejected(DomainError):
    code = "password_rejected"
    status = 400


class LoginThrottled(DomainError):
    """Too many failed logins for this account or address: try again after ``retry_after`` seconds."""

    code = "login_throttled"
    status = 429

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(messages=f"登录尝试过于频繁，请 {self.retry_after} 秒后再试", retry_after=self.retry_after)


# ---------------------------------------------------------------- creating accounts

def _set_generated(user: User) -> str:
    """A fresh one-time password for ``user``, hashed as the policy says for the role (light KDF for candidates,
    scrypt for staff: ``services.passwords.hash_method``)."""
    password = generate_password()
    user.password_hash = generate_password_hash(password, method=hash_method(user.role, generated=True))
    user.must_change_password = True
    return password


def issue_generated_password(user: User) -> str:
    """A one-time password for an account that has none usable yet (an imported account): returned once,
    never stored in clear, to be changed at first login."""
    return _set_generated(user)


def create_user(username: str, role: str, *, password: str | None = None, display_name: str = "",
                generated: bool | None = None, issue: bool = True) -> tuple[User, str | None]:
    """Create an account (no rule checks: callers that take a person's choice use ``create_staff``).

    With ``password`` it is hashed with the strong KDF. Without one, a one-time password is generated and
    returned (``issue``), or — for a roster import, whose passwords are issued when the slips are printed —
    the account gets no usable password yet (returns None). Generated/unissued passwords must be changed at
    first login.
    """
    user = User(username=username, role=role, display_name=display_name or username)
    secret: str | None = password
    if password is not None:
        user.password_hash = generate_password_hash(password, method=CHOSEN_HASH_METHOD)
        user.must_change_password = bool(generated)
    elif issue:
        secret = _set_generated(user)
    else:
        user.password_hash = UNUSABLE_HASH
        user.must_change_password = True
    db.session.add(user)
    return user, secret


def user_by_username(username: str) -> User | None:
    username = (username or "").strip()
    if not username:
        return None
    return db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()


def check_new_password(user_or_name, password: str) -> None:
    username = getattr(user_or_name, "username", user_or_name) or ""
    display = getattr(user_or_name, "display_name", "") or ""
    problems = password_problems(password, username=username, other_inputs=(display,))
    if problems:
        raise PasswordRejected(messages=problems)


def create_staff(username: str, role: str, *, display_name: str = "", password: str | None = None
                 ) -> tuple[User, str | None]:
    """A secretariat, supervisor or panelist account. A chosen ``password`` must pass the rules; without one a
    one-time password is generated (returned, to be shown once) and must be changed at first login."""
    username = (username or "").strip()
    if role not in STAFF_ROLES:
        raise DomainError("invalid_role", f"角色须为 {'、'.join(ROLE_LABELS[r] for r in STAFF_ROLES)} 之一")
    if not USERNAME_RE.match(username):
        raise DomainError("invalid_username", "账号须为 2–64 位字母、数字或 _ . @ -")
    if user_by_username(username) is not None:
        raise Conflict("username_taken", f"账号「{username}」已存在")
    if password is not None:
        check_new_password(username, password)
    user, secret = create_user(username, role, password=password, display_name=(display_name or "").strip()[:100])
    db.session.flush()
    audit("account.create", target=user, username=username, role=role,
          password="chosen" if password is not None else "one-time")
    return user, (None if password is not None else secret)


# ---------------------------------------------------------------- logging in and out

def authenticate(username: str, password: str) -> User | None:
    """The account for these credentials, or None; raises ``LoginThrottled`` while this client must wait, and
    ``login_gate.LoginBusy`` (503) when no password check could start within ``LOGIN_HASH_WAIT_SECONDS``.

    Every login (page and JSON API) comes through here, so they share one limit (``certify.login_throttle``).
    Three steps, so the CPU-bound hash never holds a pooled database connection (``certify.login_gate``):
    a short read of the account's id, role and hash, ended at once (``uow.release_connection``); the check, in a
    slot of the login gate, against a dummy hash when there is no usable account (an unknown name costs what a
    candidate's one-time password costs, ``certify.login_gate``); then a fresh transaction that loads the account,
    makes sure its hash did not change meanwhile (a reset or password change wins), records the login and stores a
    rehash when the hash policy (``services.passwords.hash_method``) asks for a stronger one.
    """
    username = (username or "").strip()
    row = None
    if username and len(username) <= 64:
        row = db.session.execute(
            db.select(User.id, User.role, User.password_hash, User.must_change_password, User.is_active_account)
            .filter_by(username=username)).first()
    release_connection()
    attempt = login_throttle.attempt_for(username, row.id if row else None)
    wait = attempt.wait()
    if wait:
        raise LoginThrottled(wait)
    password = password or ""
    if row is None or not row.is_active_account or not stored_method(row.password_hash):
        login_gate.dummy_verify(password)
        attempt.failed()
        return None
    wanted = hash_method(row.role, generated=row.must_change_password)
    rehash = current_app.config.get("PASSWORD_REHASH_ON_LOGIN", True) and needs_rehash(row.password_hash, wanted)
    ok, rehashed = login_gate.verify_and_rehash(row.password_hash, password, wanted if rehash else None)
    user = db.session.get(User, row.id) if ok else None
    if user is None or user.password_hash != row.password_hash or not user.is_active_account:
        attempt.failed()
        return None
    if rehashed:
        user.password_hash = rehashed
    attempt.succeeded()
    user.last_login_at = utcnow()
    return user


def end_sessions(user: User) -> None:
    """Every session cookie issued to this account stops working (logout, password change, reset, disable)."""
    user.session_epoch = (user.session_epoch or 0) + 1


# ---------------------------------------------------------------- passwords

def change_password(user: User, new_password: str, *, current_password: str | None = None) -> None:
    """The account holder sets a password of their choice (rules checked); ends the account's other sessions.

    With ``current_password``, it must match (the web form); the CLI of an operator passes None. In a request the
    checks and the new scrypt hash run like the login's (a candidate's first login is followed by this change, so
    it is part of the exam-morning storm): outside any database connection, in a slot of ``certify.login_gate``;
    then the account is read again and refused (409) if its password changed meanwhile.
    """
    stored, username, display, role = user.password_hash, user.username, user.display_name, user.role
    if has_request_context():
        release_connection()
    if current_password is not None and not login_gate.verify(stored, current_password):
        raise PasswordRejected("wrong_password", "当前密码不正确")
    if current_password is not None and new_password == current_password:
        raise PasswordRejected(messages="新密码不能与当前密码相同")
    check_new_password(SimpleNamespace(username=username, display_name=display), new_password)
    new_hash = login_gate.gate().run(generate_password_hash, new_password, hash_method(role, generated=False))
    if user.password_hash != stored:  # a fresh transaction: a reset or another change came first
        raise Conflict("password_changed", "密码刚刚已被修改，请重新登录后再试")
    user.password_hash = new_hash
    user.must_change_password = False
    end_sessions(user)
    audit("account.password_change", target=user, username=user.username)


def reset_password(user: User, *, reason: str = "") -> str:
    """A new one-time password for the account (returned once, never stored), to be changed at first login.

    Ends the account's sessions, clears its login back-off and writes an audit entry.
    """
    password = _set_generated(user)
    end_sessions(user)
    login_throttle.clear_account(user.username)
    audit("account.password_reset", target=user, reason=reason, username=user.username, role=user.role)
    db.session.flush()
    return password


def issue_slip_passwords(rnd, candidates) -> dict[int, str]:
    """One-time passwords for the admission slips of ``candidates`` who have not chosen their own yet.

    Returns ``{candidate id: password}`` to print now; their previous one-time passwords stop working. One
    audit entry names the tickets. Candidates who changed their password are left alone.
    """
    issued: dict[int, str] = {}
    for cand in candidates:
        user = cand.user
        if user is None or not user.must_change_password or not user.is_active_account:
            continue
        issued[cand.id] = _set_generated(user)
        end_sessions(user)
    if issued:
        tickets = [c.ticket for c in candidates if c.id in issued]
        audit("roster.slip_passwords", target=rnd, round_id=rnd.id, count=len(issued), tickets=tickets)
    db.session.flush()
    return issued


# ---------------------------------------------------------------- disabling

def _active_secretariats() -> int:
    # Row locks (PostgreSQL) so two secretariats disabling each other at once cannot both succeed.
    return len(db.session.execute(db.select(User.id).where(
        User.role == SECRETARIAT, User.is_active_account.is_(True)).with_for_update()).all())


def disable_account(user: User, *, reason: str = "") -> None:
    """Disable an account and end its sessions. The last active secretariat account can never be disabled."""
    if not user.is_active_account:
        return
    if user.role == SECRETARIAT and _active_secretariats() <= 1:
        raise Conflict("last_secretariat", "不能停用最后一个启用的秘书处账号")
    user.is_active_account = False
    end_sessions(user)
    audit("account.disable", target=user, reason=reason, username=user.username, role=user.role)
    db.session.flush()


def enable_account(user: User, *, reason: str = "") -> None:
    if user.is_active_account:
        return
    user.is_active_account = True
    audit("account.enable", target=user, reason=reason, username=user.username, role=user.role)
    db.session.flush()


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(messages="账号不存在")
    return user


def staff_accounts() -> list[User]:
    return db.session.execute(db.select(User).where(User.role.in_(STAFF_ROLES))
                              .order_by(User.role, User.username)).scalars().all()


def is_candidate(user: User) -> bool:
    return user.role == CANDIDATE

"""Account operations: create, authenticate, change password, generated passwords."""
from __future__ import annotations

import secrets

from werkzeug.security import generate_password_hash

from .clock import utcnow
from .extensions import db
from .models import User

# No 0/O/1/l/I: printed on admission slips and typed by hand.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

# Generated passwords are random (10 of 55 characters, about 58 bits) and must be changed at first login, so a
# lighter key-derivation is enough for them: a roster of hundreds imports in seconds instead of minutes
# (scrypt costs ~0.1–0.4 s per account on a busy 2-core machine). Passwords people choose use Werkzeug's default.
GENERATED_HASH_METHOD = "pbkdf2:sha256:20000"


def generate_password(length: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def create_user(username: str, role: str, *, password: str | None = None, display_name: str = "",
                generated: bool | None = None) -> tuple[User, str]:
    """Create an account. Without a password one is generated and must be changed at first login."""
    if generated is None:
        generated = password is None
    made_here = password is None
    password = password or generate_password()
    user = User(username=username, role=role, display_name=display_name or username,
                must_change_password=generated)
    if made_here:
        user.password_hash = generate_password_hash(password, method=GENERATED_HASH_METHOD)
    else:
        user.set_password(password)
    db.session.add(user)
    return user, password


def authenticate(username: str, password: str) -> User | None:
    username = (username or "").strip()
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None or not user.is_active_account or not user.check_password(password or ""):
        return None
    user.last_login_at = utcnow()
    return user


def change_password(user: User, new_password: str) -> None:
    """Set a new password; ends the account's other sessions and forgets a printed initial password."""
    from .models import Candidate

    user.set_password(new_password)
    user.must_change_password = False
    user.session_epoch = (user.session_epoch or 0) + 1
    candidate = db.session.execute(db.select(Candidate).filter_by(user_id=user.id)).scalar_one_or_none()
    if candidate is not None and candidate.initial_password:
        candidate.initial_password = None

"""Account operations: create, authenticate, change password, generated passwords."""
from __future__ import annotations

import secrets

from .clock import utcnow
from .extensions import db
from .models import User

# No 0/O/1/l/I: printed on admission slips and typed by hand.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(length: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def create_user(username: str, role: str, *, password: str | None = None, display_name: str = "",
                generated: bool | None = None) -> tuple[User, str]:
    """Create an account. Without a password one is generated and must be changed at first login."""
    if generated is None:
        generated = password is None
    password = password or generate_password()
    user = User(username=username, role=role, display_name=display_name or username,
                must_change_password=generated)
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

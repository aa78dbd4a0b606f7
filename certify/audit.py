"""Writing the audit trail. Every operation that changes a score, a key, a schedule or a decision calls this."""
from __future__ import annotations

from flask_login import current_user

from .extensions import db
from .models import AuditEntry, User


def _current_actor() -> User | None:
    try:
        if current_user and current_user.is_authenticated:
            return current_user._get_current_object()
    except RuntimeError:  # outside a request (CLI, sweeper)
        return None
    return None


def audit(action: str, *, target=None, target_type: str = "", target_id="", round_id: int | None = None,
          reason: str = "", actor: User | None = None, **detail) -> AuditEntry:
    """Add an audit entry to the session (flushed with the caller's transaction, never committed here)."""
    actor = actor or _current_actor()
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id or getattr(target, "id", "")
        if round_id is None:
            round_id = getattr(target, "round_id", None)
    entry = AuditEntry(
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        round_id=round_id,
        reason=reason or "",
        actor_id=actor.id if actor else None,
        actor_name=(actor.display_name or actor.username) if actor else "系统",
        detail=_jsonable(detail),
    )
    db.session.add(entry)
    return entry


def _jsonable(value):
    from decimal import Decimal
    from datetime import datetime

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value

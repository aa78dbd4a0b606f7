"""Notices: a notice centre per person (candidates, panelists, staff) and a delivery outbox (e-mail, SMS).

- Areas create notices with ``operations.notify(user_ids, kind, title, body)`` inside the transaction of the
  change they announce (exam session created or changed, defense schedule published, scores released, publicity
  opened). The notice and one outbox row per channel commit with the change, or not at all.
- ``/notices/`` lists a person's notices; the top bar shows the unread count, and logging in says how many wait.
- ``certify worker`` (and the embedded worker of ``certify serve``) sends due outbox rows every
  ``NOTICE_DELIVERY_INTERVAL_SECONDS`` (``delivery.deliver_due``); ``certify notices deliver|status`` by hand;
  ``/notices/deliveries`` shows the secretariat counts by state and the failures with their error.
"""
from __future__ import annotations


def area():
    from certify.area import Area, nav
    from certify.domain import SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import notices_group
    from .routes import bp

    return Area(name="notices", blueprints=[bp], cli_commands=[notices_group], setup=_setup,
                nav=[nav([SECRETARIAT, SUPERVISOR], "通知发送", "notices.deliveries")])


def _setup(app) -> None:
    from flask_login import user_logged_in

    from .delivery import register_periodic

    for key, value in (("NOTICE_DELIVERY_ENABLED", True), ("NOTICE_DELIVERY_INTERVAL_SECONDS", 10),
                       ("NOTICE_CHANNELS", "email,sms"), ("NOTICE_EMAIL_BACKEND", "smtp"),
                       ("NOTICE_SMS_BACKEND", "console")):
        app.config.setdefault(key, value)
    register_periodic()

    @app.context_processor
    def unread_notices():
        return {"unread_notices": _unread_for_current_user}

    user_logged_in.connect(_announce_unread, app)


def _unread_for_current_user() -> int:
    """The top bar's badge (called by ``base.html`` only for a logged-in user)."""
    from flask_login import current_user

    from .operations import unread_count

    try:
        if not current_user.is_authenticated:
            return 0
        return unread_count(current_user)
    except Exception:  # an error page (e.g. the database is down) must still render
        return 0


def _announce_unread(_app, user, **_extra) -> None:
    from flask import flash, has_request_context, request

    from .operations import unread_count

    if not has_request_context() or request.path.startswith("/api/"):  # pages only: the API has no flashes
        return
    n = unread_count(user)
    if n:
        flash(f"您有 {n} 条未读通知，请到「通知」查看。", "info")

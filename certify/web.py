"""Web plumbing shared by the core's and the areas' routes, one rule each:

- ``refusals_go_to(url)``: the page a refused form goes back to (flash + redirect);
- ``require_confirmation(form, again)``: an irreversible or mass POST without the ticked box and the reason is
  refused (400, nothing applied) and sent back to its confirmation page (``templates/_confirm.html``);
- the URL converters ``<round:rnd>`` (a ``Round`` by its code, 404 otherwise) and ``<id:…>`` (a database id);
- query parameters: ``page_arg()`` and ``decimal_value()`` refuse bad values with a 400 and a message;
- ``round_from_query(prefer)``: the round a list page shows (``?round=CODE``, else the newest preferred round).
"""
from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal, InvalidOperation

from flask import request
from werkzeug.routing import BaseConverter, IntegerConverter

from .errors import DomainError, NotFound

MAX_ID = 2**31 - 1  # the largest primary key a 32-bit INTEGER column holds (PostgreSQL ``integer``)
MAX_PAGE = 100_000


@contextmanager
def refusals_go_to(url: str):
    """A ``DomainError`` raised inside the block sends a page back to ``url`` (flash + redirect) instead of the
    referring page; the unit of work still rolls the transaction back. JSON clients get the error body as usual."""
    try:
        yield
    except DomainError as err:
        if err.redirect_to is None:
            err.redirect_to = url
        raise


CONFIRMATION_MESSAGE = "请勾选确认并填写理由后再执行（未做任何更改）"


def require_confirmation(form, again: str) -> str:
    """The second step of an irreversible or mass action: refuse (400 ``confirmation_required``, nothing applied,
    back to the confirmation page ``again``) unless ``form`` (a ``certify.forms.Acknowledgement``) has the ticked
    box and a reason. Returns the reason, for the audit entry."""
    if not form.acknowledged():
        raise DomainError("confirmation_required", CONFIRMATION_MESSAGE, 400, redirect_to=again)
    return form.reason.data.strip()


# ---------------------------------------------------------------- the ``round`` URL converter

class UnknownRound(str):
    """A ``<round:…>`` value that names no round: the view is refused with 404 after the access guard ran (so an
    anonymous visitor is sent to the login page whether the code exists or not)."""


class RoundConverter(BaseConverter):
    """``/<round:rnd>/…``: the view receives the ``Round`` with that code; ``url_for(…, rnd=round_or_code)``."""

    def to_python(self, value: str):
        from .rounds import find_round

        rnd = find_round(value)
        return UnknownRound(value) if rnd is None else rnd

    def to_url(self, value) -> str:
        return super().to_url(getattr(value, "code", value))


def _refuse_unknown_round():
    for value in (request.view_args or {}).values():
        if isinstance(value, UnknownRound):
            raise NotFound("round_not_found", f"认证轮次「{value}」不存在")
    return None


class IdConverter(IntegerConverter):
    """``<id:item_id>``: a positive database id; anything a column cannot hold is simply not found (404), instead
    of an overflow inside the database driver (500)."""

    def __init__(self, map, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, **kwargs)


def rounds_newest_first() -> list:
    """Every round, newest first: the round picker of the list pages."""
    from .extensions import db
    from .models import Round

    return list(db.session.scalars(db.select(Round).order_by(Round.year.desc(), Round.id.desc())))


def round_from_query(prefer=None):
    """The round a list page shows: ``?round=CODE`` (404 with a message when no round has that code), else the
    newest round for which ``prefer(round)`` holds, else the newest round; ``None`` when there is no round."""
    from .rounds import find_round

    code = request.args.get("round")
    if code:
        rnd = find_round(code)
        if rnd is None:
            raise NotFound("round_not_found", f"认证轮次「{code}」不存在")
        return rnd
    rounds = rounds_newest_first()
    preferred = [r for r in rounds if prefer is None or prefer(r)]
    return (preferred or rounds or [None])[0]


def register_converters(app) -> None:
    """The app's URL converters (before any blueprint that uses them is registered) and the 404 for an unknown
    round, which runs after the access guard (registered before the areas)."""
    app.url_map.converters["round"] = RoundConverter
    app.url_map.converters["id"] = IdConverter
    app.before_request(_refuse_unknown_round)


# ---------------------------------------------------------------- query parameters: 400 with a message, never 500

class BadParameter(DomainError):
    code = "bad_parameter"
    status = 400

    def __init__(self, message: str, **kwargs):
        super().__init__(None, message, **kwargs)


def page_arg(name: str = "page") -> int:
    """The page number of a list (1 when absent); anything else than 1…MAX_PAGE is refused with 400."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or len(raw) > 7 or not (1 <= int(raw) <= MAX_PAGE):
        raise BadParameter(f"页码「{raw[:20]}」无效（须为 1 到 {MAX_PAGE} 之间的整数）")
    return int(raw)


class ListPage:
    """One page of an in-memory list, in the shape the ``pager`` macro reads (like SQLAlchemy's pagination): for
    pages whose rows come from a computation rather than a query (the results preview)."""

    def __init__(self, items: list, page: int, per_page: int):
        self.total = len(items)
        self.per_page = per_page
        self.pages = max(1, -(-self.total // per_page))
        self.page = min(page, self.pages)
        self.items = items[(self.page - 1) * per_page: self.page * per_page]
        self.has_prev, self.has_next = self.page > 1, self.page < self.pages
        self.prev_num, self.next_num = self.page - 1, self.page + 1


def decimal_value(text: str | None, label: str, **kwargs) -> Decimal | None:
    """A finite decimal from a parameter or form field (None when empty); "NaN", "Infinity", "abc"… are refused
    with a 400 whose message names the field (``kwargs`` go to the error, e.g. ``redirect_to``)."""
    raw = "" if text is None else str(text).strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value.adjusted()) > 20:
        raise BadParameter(f"{label}「{raw[:30]}」不是有效的数字", **kwargs)
    return value

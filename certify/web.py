"""Web plumbing shared by the core's and the areas' routes: where a refused form goes back to.

(The ``round`` URL converter lives here too, see ``register_converters``.)
"""
from __future__ import annotations

from contextlib import contextmanager

from flask import request
from werkzeug.routing import BaseConverter

from .errors import DomainError, NotFound


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


def register_converters(app) -> None:
    """The app's URL converters (before any blueprint that uses them is registered) and the 404 for an unknown
    round, which runs after the access guard (registered before the areas)."""
    app.url_map.converters["round"] = RoundConverter
    app.before_request(_refuse_unknown_round)

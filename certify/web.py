"""Web plumbing shared by the core's and the areas' routes: where a refused form goes back to.

(The ``round`` URL converter lives here too, see ``register_converters``.)
"""
from __future__ import annotations

from contextlib import contextmanager

from .errors import DomainError


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

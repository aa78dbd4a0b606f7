"""The question bank area."""


def init_app(app):
    from . import models  # noqa: F401  (registers the tables)

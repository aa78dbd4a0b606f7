"""The defense area."""


def init_app(app):
    from . import models  # noqa: F401  (registers the tables)
    from . import scoring_models  # noqa: F401  (live scoring tables)
    from .scoring_setup import init_scoring

    init_scoring(app)

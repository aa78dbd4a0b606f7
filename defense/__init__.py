"""The defense area: panels, scheduling, publication (schedule_setup) and live panel scoring (scoring_setup)."""


def init_app(app):
    from . import models  # noqa: F401  (registers the tables)
    from . import scoring_models  # noqa: F401  (live scoring tables)
    from .schedule_setup import init_schedule
    from .scoring_setup import init_scoring

    init_scoring(app)
    init_schedule(app)

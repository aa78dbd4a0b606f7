"""The exam area: blueprints and papers, sessions, delivery, grading, monitoring."""


def init_app(app):
    from . import models  # noqa: F401  (registers the tables)
    from .analysis_setup import init_analysis

    init_analysis(app)
    from .delivery_setup import init_delivery

    init_delivery(app)
    from .setup import init_admin

    init_admin(app)

"""Results: totals, ranking, certification by ratio, publication, item analysis, audit view."""


def init_app(app):
    pass

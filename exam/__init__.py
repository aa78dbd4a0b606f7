"""The exam area."""


def init_app(app):
    pass

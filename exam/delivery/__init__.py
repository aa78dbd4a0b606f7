"""Exam delivery, one module per concern (see ``exam.delivery.operations``, which re-exports the public names)."""

"""Exam delivery, one module per concern (see ``exam.operations``, which re-exports the public names)."""

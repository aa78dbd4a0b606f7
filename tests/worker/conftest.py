"""Worker tests reuse the exam factories (sessions with papers) for the sweeper."""
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)

"""Worker tests reuse the exam factories (sessions with papers) for the sweeper and the defense round fixtures
for the scheduling job."""
from tests.defense.test_schedule_flow import cands, rnd  # noqa: F401  (fixtures)
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)

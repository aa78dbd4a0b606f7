"""Exam delivery operations, one import for routes, sockets, the sweeper and the CLI. The code lives in
``exam.delivery``, one module per concern:

- ``base``: limits, ``ExamError``, notices (``certify.realtime.queue``), lookups, the attempt guard
  (``load_attempt``) and the attempt lock (``locked`` / ``lock_attempt``; every attempt write takes it first);
- ``lifecycle``: start/resume, ``transition`` (the state machine of ``services.attempt_state`` applied to stored
  attempts: submit, auto-close, force-submit, reopen), the sweep and absentees, extra time;
- ``saving``: save an answer (the lean, locked path), flag, integrity events;
- ``grade``: grading a stored attempt; ``errata``: key errata and regrading; ``rows``: the monitor's rows and
  the entry rule for stored attempts.

Nothing here commits: the unit of work (``certify.uow``) commits at the edge of every request, socket event and
sweeper tick. An ``ExamError`` with ``keep_changes=True`` means the operation changed state before refusing (e.g.
it closed an overdue attempt): the unit of work commits that, then answers with the error.
"""
from __future__ import annotations

from ..grading.errata import (
    RegradeRow,  # noqa: F401
    apply_erratum,  # noqa: F401
    preview_erratum,  # noqa: F401
    validate_erratum,  # noqa: F401
)
from ..grading.grade import compute_grade  # noqa: F401
from ..models import Attempt  # noqa: F401  (kept importable from here)
from .base import (
    BROWSER_EVENT_KINDS,  # noqa: F401
    MAX_EVENT_DETAIL_BYTES,  # noqa: F401
    MAX_EVENTS_PER_ATTEMPT,  # noqa: F401
    MAX_EXTRA_MINUTES,  # noqa: F401
    MAX_TIME_SPENT_MS,  # noqa: F401
    NAMESPACE,  # noqa: F401
    SQL_INT_MAX,  # noqa: F401
    TAKEN_OVER,  # noqa: F401
    ExamError,  # noqa: F401
    assignment,  # noqa: F401
    assignments_of,  # noqa: F401
    attempt_of,  # noqa: F401
    attempt_room,  # noqa: F401
    candidate_of,  # noqa: F401
    check_token,  # noqa: F401
    created_now,  # noqa: F401
    grace_seconds,  # noqa: F401
    load_attempt,  # noqa: F401
    lock_attempt,  # noqa: F401
    locked,  # noqa: F401
    own_attempt,  # noqa: F401
    session_room,  # noqa: F401
    token_tag,  # noqa: F401
)
from .lifecycle import (
    CLOSE_MESSAGES,  # noqa: F401
    add_time,  # noqa: F401
    close_if_overdue,  # noqa: F401
    close_overdue,  # noqa: F401
    force_submit,  # noqa: F401
    notify_extra_time,  # noqa: F401
    record_absentees,  # noqa: F401
    reopen_attempt,  # noqa: F401
    set_extra_time,  # noqa: F401
    start_attempt,  # noqa: F401
    submit_attempt,  # noqa: F401
    sweep,  # noqa: F401
    transition,  # noqa: F401
)
from .rows import (
    ABSENT,  # noqa: F401
    MONITOR_LABELS,  # noqa: F401
    NOT_STARTED,  # noqa: F401
    attempt_row,  # noqa: F401
    entry_of,  # noqa: F401
    event_counts,  # noqa: F401
    monitor_status,  # noqa: F401
)
from .saving import (
    _SHAPES,  # noqa: F401
    AttemptHeader,  # noqa: F401
    flag_item,  # noqa: F401
    paper_shape,  # noqa: F401
    record_event,  # noqa: F401
    save_answer,  # noqa: F401
)

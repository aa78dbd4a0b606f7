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

from .delivery.base import (  # noqa: F401
    BROWSER_EVENT_KINDS,
    MAX_EVENT_DETAIL_BYTES,
    MAX_EVENTS_PER_ATTEMPT,
    MAX_EXTRA_MINUTES,
    MAX_TIME_SPENT_MS,
    NAMESPACE,
    SQL_INT_MAX,
    TAKEN_OVER,
    ExamError,
    assignment,
    assignments_of,
    attempt_of,
    attempt_room,
    candidate_of,
    check_token,
    grace_seconds,
    load_attempt,
    lock_attempt,
    locked,
    own_attempt,
    session_room,
    token_tag,
)
from .delivery.errata import (  # noqa: F401
    RegradeRow,
    apply_erratum,
    preview_erratum,
    validate_erratum,
)
from .delivery.grade import (  # noqa: F401
    compute_grade,
)
from .delivery.lifecycle import (  # noqa: F401
    CLOSE_MESSAGES,
    add_time,
    close_if_overdue,
    close_overdue,
    force_submit,
    notify_extra_time,
    record_absentees,
    reopen_attempt,
    set_extra_time,
    start_attempt,
    submit_attempt,
    sweep,
    transition,
)
from .delivery.rows import (  # noqa: F401
    ABSENT,
    MONITOR_LABELS,
    NOT_STARTED,
    attempt_row,
    entry_of,
    event_counts,
    monitor_status,
)
from .delivery.saving import (  # noqa: F401
    _SHAPES,
    AttemptHeader,
    flag_item,
    paper_shape,
    record_event,
    save_answer,
)
from .models import Attempt  # noqa: F401  (kept importable from here)

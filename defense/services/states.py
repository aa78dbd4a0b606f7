"""States of live defense scoring (pure: no Flask, no database).

``CaseState`` and ``SheetStatus`` are the only spellings of the states; their Chinese labels live here too.
The transition tables and the one ``transition`` function are in ``defense/services/machines.py``.
"""
from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    WAITING = "waiting"  # scheduled, not yet checked in (a carried-over case waits again at the end of the queue)
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"  # called into the room; the timer's phases run
    SCORING = "scoring"  # the defense ended; sheets are being submitted
    FLAGGED = "flagged"  # every sheet is in and a flag (spread / outlier) waits for the chair
    FINALISED = "finalised"
    ABSENT = "absent"  # a no-show: locked like a finalised case, no score


class SheetStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REOPENED = "reopened"  # sent back by the chair for a revision
    RECUSED = "recused"


CASE_STATE_LABELS = {CaseState.WAITING: "待签到", CaseState.CHECKED_IN: "已签到", CaseState.IN_PROGRESS: "答辩中",
                     CaseState.SCORING: "评分中", CaseState.FLAGGED: "待组长确认", CaseState.FINALISED: "已定分",
                     CaseState.ABSENT: "缺考"}
SHEET_STATUS_LABELS = {SheetStatus.DRAFT: "评分中", SheetStatus.SUBMITTED: "已提交", SheetStatus.REOPENED: "已退回重评",
                       SheetStatus.RECUSED: "回避"}

# A locked case takes no more scores; only the secretariat reopens it.
LOCKED_CASE_STATES = frozenset({CaseState.FINALISED, CaseState.ABSENT})
# A sheet that still counts as "to do" for its panelist.
OPEN_SHEET_STATUSES = frozenset({SheetStatus.DRAFT, SheetStatus.REOPENED})
# A sheet that is "in" for the aggregate.
DONE_SHEET_STATUSES = frozenset({SheetStatus.SUBMITTED, SheetStatus.RECUSED})

# The defense component of a no-show, as results read it (``certify.scores.record_component(status=…)``).
COMPONENT_ABSENT = "absent"

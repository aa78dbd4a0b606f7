"""Exam models: blueprints (组卷方案), sessions (场次), papers, attempts, answers, integrity events, key errata.

The save path touches one row: ``exam_answers`` is keyed (attempt_id, position) and carries the per-attempt
sequence number of the save that wrote it, so a late, stale request never overwrites a newer answer.
Papers are generated before a session opens (one fixed paper, or one per candidate), each stored with what its
candidate is shown (``Paper.payload_json``), so starting an attempt only links an existing paper.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, Select, String, Text, UniqueConstraint, false
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, Scheme, User, sql_in

from .services.attempt_state import AttemptState

FIXED, PER_CANDIDATE = "fixed", "per_candidate"
PAPER_MODES = {FIXED: "统一试卷", PER_CANDIDATE: "每人随机抽题"}

# Attempt states
# Attempt states (plain strings; the state machine is exam.services.attempt_state)
IN_PROGRESS, SUBMITTED, AUTO_SUBMITTED, FORCE_SUBMITTED = (AttemptState.IN_PROGRESS.value, AttemptState.SUBMITTED.value,
                                                           AttemptState.AUTO_SUBMITTED.value,
                                                           AttemptState.FORCE_SUBMITTED.value)
ATTEMPT_STATES = (IN_PROGRESS, SUBMITTED, AUTO_SUBMITTED, FORCE_SUBMITTED)
CLOSED_STATES = (SUBMITTED, AUTO_SUBMITTED, FORCE_SUBMITTED)
ATTEMPT_STATE_LABELS = {IN_PROGRESS: "作答中", SUBMITTED: "已交卷", AUTO_SUBMITTED: "到时自动交卷",
                        FORCE_SUBMITTED: "强制交卷"}

# Integrity events recorded from the browser (and the server, for concurrent sessions)
EVENT_KINDS = ("blur", "hidden", "copy", "paste", "fullscreen_exit", "concurrent_session", "takeover",
               "late_save")
EVENT_LABELS = {"blur": "窗口失焦", "hidden": "页面隐藏", "copy": "复制", "paste": "粘贴",
                "fullscreen_exit": "退出全屏", "concurrent_session": "多端登录", "takeover": "新设备接管",
                "late_save": "超时保存被拒"}

# Key errata
ERRATUM_KINDS = {"correct": "更正答案", "accept": "增加可接受答案", "void": "作废此题（全员得分）"}


class Blueprint(db.Model):
    """A blueprint (组卷方案) of a scheme: rows of strata totalling 100 points."""

    __tablename__ = "exam_blueprints"
    __table_args__ = (CheckConstraint(sql_in("mode", PAPER_MODES), name="mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20), default=PER_CANDIDATE)
    # Set when the blueprint was last checked against the bank and every row could be filled.
    validated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    scheme: Mapped[Scheme] = relationship()
    rows: Mapped[list[BlueprintRow]] = relationship(back_populates="blueprint", cascade="all, delete-orphan",
                                                    order_by="BlueprintRow.position")

    @property
    def total_points(self) -> Decimal:
        return sum((Decimal(r.count) * r.points for r in self.rows), Decimal(0))


class BlueprintRow(db.Model):
    """One stratum: category × type × difficulty range, how many items and points per item."""

    __tablename__ = "exam_blueprint_rows"
    __table_args__ = (
        UniqueConstraint("blueprint_id", "position"),
        CheckConstraint("type IN ('single', 'multiple', 'truefalse')", name="type"),
        CheckConstraint("difficulty_min BETWEEN 1 AND 5 AND difficulty_max BETWEEN 1 AND 5 "
                        "AND difficulty_min <= difficulty_max", name="difficulty"),
        CheckConstraint("count > 0", name="count"),
        CheckConstraint("points > 0", name="points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    blueprint_id: Mapped[int] = mapped_column(ForeignKey("exam_blueprints.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    category: Mapped[str] = mapped_column(String(60))  # "" = any category
    type: Mapped[str] = mapped_column(String(10))
    difficulty_min: Mapped[int] = mapped_column(default=1)
    difficulty_max: Mapped[int] = mapped_column(default=5)
    count: Mapped[int]
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2))

    blueprint: Mapped[Blueprint] = relationship(back_populates="rows")


class ExamSession(db.Model):
    """A timed exam session (场次) of one scheme."""

    __tablename__ = "exam_sessions"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="window"),
        CheckConstraint("duration_minutes > 0", name="duration"),
        CheckConstraint("late_entry_minutes >= 0", name="late_entry"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id", ondelete="CASCADE"), index=True)
    blueprint_id: Mapped[int | None] = mapped_column(ForeignKey("exam_blueprints.id"))
    name: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[datetime]  # naive UTC
    closes_at: Mapped[datetime]
    duration_minutes: Mapped[int]
    late_entry_minutes: Mapped[int] = mapped_column(default=30)
    instructions: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")  # 考试地点 (empty: online, anywhere)
    assign_all: Mapped[bool] = mapped_column(default=True)  # every candidate of the scheme's level
    seed: Mapped[int] = mapped_column(default=0)  # paper draws derive from it (reproducible)
    papers_generated_at: Mapped[datetime | None]
    event_warning_threshold: Mapped[int | None]  # integrity events before the candidate is warned
    scores_released_at: Mapped[datetime | None]
    # Set by the sweeper once, after the close, when assigned candidates who never started were recorded absent.
    absentees_recorded_at: Mapped[datetime | None]
    # A practice session (模拟练习): one per round and level, a fixed paper of secretariat-chosen items, taken in
    # the same room; ungraded for results and never counted (``real_sessions`` / ``real_attempts`` below).
    practice: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    scheme: Mapped[Scheme] = relationship()
    blueprint: Mapped[Blueprint | None] = relationship()
    assignments: Mapped[list[SessionCandidate]] = relationship(back_populates="session",
                                                               cascade="all, delete-orphan")

    def scores_released(self, now: datetime) -> bool:
        """Whether candidates may see their exam scores at ``now`` (the one rule pages and API share)."""
        return self.scores_released_at is not None and self.scores_released_at <= now


class SessionCandidate(db.Model):
    """A candidate assigned to a session, with their extra time."""

    __tablename__ = "exam_session_candidates"
    __table_args__ = (UniqueConstraint("session_id", "candidate_id"),
                      CheckConstraint("extra_minutes >= 0", name="extra"))

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    extra_minutes: Mapped[int] = mapped_column(default=0)
    paper_id: Mapped[int | None] = mapped_column(ForeignKey("exam_papers.id"))  # pre-generated

    session: Mapped[ExamSession] = relationship(back_populates="assignments")
    candidate: Mapped[Candidate] = relationship()
    paper: Mapped[Paper | None] = relationship()


class Paper(db.Model):
    """A generated paper: the fixed paper of a session, or one candidate's draw."""

    __tablename__ = "exam_papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    seed: Mapped[int]
    # Expected difficulty of the paper (mean over items of the facility used at assembly, weighted by points).
    expected_facility: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the candidate sees of the paper, rendered once when it is made (``exam.services.paper_payload``; the
    # API's JSON of the items, no key): startAttempt and getAttempt send it without reading the items. NULL for a
    # paper made before it existed, rendered (and stored by the next start) on first use. Loaded only when asked.
    payload_json: Mapped[str | None] = mapped_column(Text, deferred=True)

    items: Mapped[list[PaperItem]] = relationship(back_populates="paper", cascade="all, delete-orphan",
                                                  order_by="PaperItem.position")


class PaperItem(db.Model):
    """One question of a paper, in the candidate's order, with the candidate's option order."""

    __tablename__ = "exam_paper_items"
    __table_args__ = (UniqueConstraint("paper_id", "position"), UniqueConstraint("paper_id", "item_version_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("exam_papers.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]  # 1-based, the candidate's order
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_versions.id"), index=True)
    blueprint_row: Mapped[int | None]  # position of the stratum it was drawn from
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    # Displayed option i is written option option_order[i] (0-based indexes into ItemVersion.options).
    option_order: Mapped[list] = mapped_column(JSON)

    paper: Mapped[Paper] = relationship(back_populates="items")


class Attempt(db.Model):
    """A candidate's sitting of a session. The deadline is fixed at start (server clock)."""

    __tablename__ = "exam_attempts"
    __table_args__ = (UniqueConstraint("session_id", "candidate_id"),
                      CheckConstraint(sql_in("state", ATTEMPT_STATES), name="state"),
                      Index("ix_exam_attempts_state_deadline", "state", "deadline_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("exam_papers.id"))
    state: Mapped[str] = mapped_column(String(20), default=IN_PROGRESS)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    # The newest device's token; an older page that still holds a previous token is told it was taken over.
    client_token: Mapped[str] = mapped_column(String(64), default="")
    # The browser tab holding the token (a per-tab id kept in sessionStorage): the same tab reloading resumes, a
    # different tab or device takes over. ``concurrent_seen_at``: when two live tabs were last seen together.
    client_tab: Mapped[str] = mapped_column(String(64), default="", server_default="")
    concurrent_seen_at: Mapped[datetime | None]
    last_seq: Mapped[int] = mapped_column(default=0)
    answered_count: Mapped[int] = mapped_column(default=0)
    score: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))  # out of 100, exact
    graded_at: Mapped[datetime | None]

    candidate: Mapped[Candidate] = relationship()
    session: Mapped[ExamSession] = relationship()
    paper: Mapped[Paper] = relationship()


class Answer(db.Model):
    """The saved response to one paper position. One row per attempt × position; one indexed write per save."""

    __tablename__ = "exam_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Letters in the *written* order of the item's options (A = options[0]), sorted, e.g. "AC"; "" = cleared.
    response: Mapped[str] = mapped_column(String(8), default="")
    flagged: Mapped[bool] = mapped_column(default=False)
    seq: Mapped[int] = mapped_column(default=0)  # the per-attempt sequence number of the save that wrote it
    time_spent_ms: Mapped[int] = mapped_column(default=0)  # accumulated time on this item
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))  # set when graded


class AttemptEvent(db.Model):
    """An integrity event (focus loss, copy, paste, …) with its time."""

    __tablename__ = "exam_attempt_events"
    __table_args__ = (CheckConstraint(sql_in("kind", EVENT_KINDS), name="kind"),
                      UniqueConstraint("attempt_id", "client_event_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # The browser's id for the event: a resend of the same event is ignored (NULL for server-side events).
    client_event_id: Mapped[str | None] = mapped_column(String(64))


class KeyErratum(db.Model):
    """A correction of an item version's key applied to one session: correct, accept another key, or void."""

    __tablename__ = "exam_key_errata"
    __table_args__ = (CheckConstraint(sql_in("kind", ERRATUM_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    # The keys accepted after the erratum (letters in written order), e.g. ["B"] or ["B", "C"]; [] for void.
    accepted: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    applied_by: Mapped[User | None] = relationship()


# --------------------------------------------------------------------------------------- practice vs. real
# The one rule every consumer of sessions and attempts (lists, monitor, absentees, exports, statistics, item
# analysis, difficulty write-back, the candidate's exam list) applies: practice sessions and their attempts are
# never counted. Use these instead of a bare ``select(ExamSession)`` / ``select(Attempt)``.

def is_real_session():
    """The WHERE clause of a real (not practice) session, for queries that already join ``ExamSession``."""
    return ExamSession.practice.is_(False)


def real_session_ids() -> Select:
    """A subquery of the ids of real sessions (for ``.in_``)."""
    return sa_select(ExamSession.id).where(is_real_session())


def real_sessions() -> Select:
    """``select(ExamSession)`` of real sessions only."""
    return sa_select(ExamSession).where(is_real_session())


def is_real_attempt():
    """The WHERE clause of an attempt of a real session."""
    return Attempt.session_id.in_(real_session_ids())


def real_attempts(*columns) -> Select:
    """``select(Attempt)`` (or of ``columns``) of real sessions' attempts only."""
    return (sa_select(*columns) if columns else sa_select(Attempt)).where(is_real_attempt())


DEVICE_VERDICTS = {"pass": "通过", "warn": "基本可用", "fail": "未通过"}


class DeviceCheck(db.Model):
    """A candidate's device check (设备检测): what the browser measured and the verdict of
    ``services.device_check``; every run is kept, the newest counts."""

    __tablename__ = "exam_device_checks"
    __table_args__ = (CheckConstraint(sql_in("verdict", DEVICE_VERDICTS), name="verdict"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    browser: Mapped[str] = mapped_column(String(60), default="")
    browser_version: Mapped[int | None]
    clock_offset_ms: Mapped[int | None]
    latency_ms: Mapped[int | None]
    websocket_ok: Mapped[bool] = mapped_column(default=False)
    storage_ok: Mapped[bool] = mapped_column(default=False)
    screen_width: Mapped[int | None]
    screen_height: Mapped[int | None]
    verdict: Mapped[str] = mapped_column(String(10))
    # the failing / warning checks: [{"check": "clock", "level": "fail", "advice": "…"}]
    problems: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Candidate] = relationship()

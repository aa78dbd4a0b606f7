"""Item analysis of an exam session: from attempts and answers to matrices, the analysis, exports, and the
one state change of this area (storing measured facility back on the bank's items).

Which attempts count: those submitted, auto-submitted or force-submitted and graded (``graded_at`` set).
A paper position with no saved answer counts as omitted, 0 points. Items are columns by item version; the
same item on papers with different points is put on one scale (mark × max / points).

Measured facility is stored on request (a secretariat button, audited), not on every view: the report is
read by supervisors too (GET never writes), and key errata can still change the marks after the session
closes. Storing is refused while the session is open or an attempt is still in progress.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from flask import current_app

from certify.audit import audit
from certify.clock import utcnow
from certify.domain import half_up
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Round
from certify.tabular import Sheet
from question_bank.models import TYPE_LABELS, Item, ItemVersion

from ..models import (
    CLOSED_STATES,
    IN_PROGRESS,
    Answer,
    Attempt,
    ExamSession,
    KeyErratum,
    PaperItem,
    real_attempts,
    real_sessions,
)
from ..services.item_analysis import (
    FACILITY_HIGH,
    FACILITY_LOW,
    LETTERS,
    LOW_EFFICIENCY,
    MISKEY,
    NEGATIVE_DISCRIMINATION,
    Analysis,
    analyse,
    random_guess_score,
)

FLAG_LABELS = {FACILITY_LOW: "过难", FACILITY_HIGH: "过易", NEGATIVE_DISCRIMINATION: "区分度为负",
               LOW_EFFICIENCY: "区分效率低", MISKEY: "疑似答案错误", "void": "已作废"}
CATEGORY_ORDER = ("科学素养", "科学教育理论", "活动组织", "安全规范")


class AnalysisError(DomainError):
    """A request the analysis cannot carry out (message in Chinese)."""

    code = "analysis_refused"
    status = 409

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **kwargs):
        super().__init__(code, message, status, **kwargs)


@dataclass
class ItemInfo:
    version_id: int
    item_id: int
    code: str
    version: int
    type: str
    stem: str
    category: str
    n_options: int
    key: str  # effective key letters after errata (union of the accepted keys)
    void: bool = False


@dataclass
class SessionData:
    session: ExamSession
    items: list[ItemInfo]
    candidate_ids: list[int]
    marks: np.ndarray
    max_marks: np.ndarray
    seen: np.ndarray
    choices: np.ndarray
    times: np.ndarray
    forms: np.ndarray
    slots: np.ndarray | None
    ungraded: int = 0
    in_progress: int = 0


@dataclass
class SessionReport:
    data: SessionData
    analysis: Analysis
    cut_score: float | None
    cut_source: str
    rows: list[dict] = field(default_factory=list)


def _effective_keys(session_id: int, versions: dict[int, ItemVersion]) -> tuple[dict[int, str], set[int]]:
    """Key letters per item version after the session's errata, and the voided versions."""
    keys = {vid: {v.answer} for vid, v in versions.items()}
    void: set[int] = set()
    errata = db.session.execute(db.select(KeyErratum).filter_by(session_id=session_id)
                                .order_by(KeyErratum.applied_at, KeyErratum.id)).scalars()
    for e in errata:
        if e.item_version_id not in keys:
            continue
        if e.kind == "void":
            void.add(e.item_version_id)
        elif e.kind == "correct":
            keys[e.item_version_id] = set(e.accepted or [])
        elif e.kind == "accept":
            keys[e.item_version_id] |= set(e.accepted or [])
    return {vid: "".join(sorted(set("".join(ks)))) for vid, ks in keys.items()}, void


def _category_rank(category: str) -> tuple[int, str]:
    return (CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER), category)


def build_session_data(session: ExamSession) -> SessionData:
    """Read the closed, graded attempts of a session into candidates × items matrices.

    A 5,000-candidate session has ~300,000 paper items and ~300,000 answers: the rows are read as plain
    tuples, turned into numpy columns at once, and every matrix is filled with index arrays (per paper first,
    then one fancy-index per attempt row), with no Python work per row beyond the column transpose."""
    attempts_all = db.session.execute(
        real_attempts(Attempt.id, Attempt.candidate_id, Attempt.paper_id, Attempt.state, Attempt.graded_at)
        .filter_by(session_id=session.id).order_by(Attempt.id)).all()
    in_progress = sum(1 for a in attempts_all if a.state == IN_PROGRESS)
    closed = [a for a in attempts_all if a.state in CLOSED_STATES]
    attempts = [a for a in closed if a.graded_at is not None]
    ungraded = len(closed) - len(attempts)
    n = len(attempts)

    paper_ids = sorted({a.paper_id for a in attempts})
    pi = _paper_item_columns(session.id, paper_ids)  # paper index, position, version, points, blueprint row (-1: none)
    version_ids = np.unique(pi["version"]).tolist()
    versions = {v.id: v for v in db.session.execute(
        db.select(ItemVersion).where(ItemVersion.id.in_(version_ids))).scalars()} if version_ids else {}
    codes = {i.id: i.code for i in db.session.execute(
        db.select(Item).where(Item.id.in_({v.item_id for v in versions.values()})))
        .scalars()} if versions else {}
    keys, void = _effective_keys(session.id, versions)

    ordered = sorted(versions.values(), key=lambda v: (*_category_rank(v.category), codes.get(v.item_id, ""), v.id))
    items = [ItemInfo(v.id, v.item_id, codes.get(v.item_id, ""), v.version, v.type, v.stem, v.category,
                      len(v.options or []), keys[v.id], v.id in void) for v in ordered]
    m = len(items)
    col_of_version = np.zeros(len(version_ids), dtype=np.int64)  # sorted version id -> matrix column
    for j, v in enumerate(ordered):
        col_of_version[int(np.searchsorted(version_ids, v.id))] = j
    pi_col = col_of_version[np.searchsorted(version_ids, pi["version"])] if len(pi["version"]) else \
        np.zeros(0, dtype=np.int64)
    pi_paper, pi_pos, pi_pts, pi_brow = pi["paper"], pi["position"], pi["points"], pi["brow"]

    max_marks = np.zeros(m)
    np.maximum.at(max_marks, pi_col, pi_pts)
    use_slots = not bool((pi_brow < 0).any())
    n_papers = len(paper_ids) + 1  # the last row: a paper without items
    att_paper = np.searchsorted(paper_ids, np.fromiter((a.paper_id for a in attempts), dtype=np.int64, count=n)) \
        if paper_ids else np.zeros(n, dtype=np.int64)
    has_items = np.zeros(n_papers, dtype=bool)
    has_items[pi_paper] = True
    att_paper = np.where(has_items[att_paper], att_paper, n_papers - 1)

    max_pos = int(pi_pos.max()) if len(pi_pos) else 0
    paper_pos_col = np.full((n_papers, max_pos + 1), -1, dtype=np.int64)  # (paper, position) -> column
    paper_pos_col[pi_paper, pi_pos] = pi_col
    paper_pos_pts = np.ones((n_papers, max_pos + 1))  # (paper, position) -> the paper's points for it
    paper_pos_pts[pi_paper, pi_pos] = pi_pts
    paper_seen = np.zeros((n_papers, m), dtype=bool)
    paper_seen[pi_paper, pi_col] = True
    pos_col, pos_pts, seen = paper_pos_col[att_paper], paper_pos_pts[att_paper], paper_seen[att_paper]
    forms = _form_labels(pi_paper, pi_col, n_papers, att_paper)

    marks = np.zeros((n, m))
    choices = np.zeros((n, m, len(LETTERS)), dtype=bool)
    times = np.zeros((n, m))
    att_ids = np.fromiter((a.id for a in attempts), dtype=np.int64, count=n)  # ascending (ordered by id)
    ans = _answer_columns(session.id, att_ids)
    if len(ans["attempt"]):
        ai = ans["attempt"]
        ap = ans["position"]
        inside = (ap >= 0) & (ap <= max_pos)
        ai, ap = ai[inside], ap[inside]
        aj = pos_col[ai, ap]
        on_paper = aj >= 0  # an answer to a position the paper does not have is ignored
        ai, ap, aj = ai[on_paper], ap[on_paper], aj[on_paper]
        keep = np.flatnonzero(inside)[on_paper]
        pts = ans["points"][keep]
        paper_pts = pos_pts[ai, ap]
        scale = np.where(paper_pts > 0, max_marks[aj] / np.where(paper_pts > 0, paper_pts, 1), 0)
        marks[ai, aj] = np.clip(pts * scale, 0, max_marks[aj])
        bits = ans["bits"][keep]
        choices[ai, aj] = ((bits[:, None] >> np.arange(len(LETTERS))) & 1).astype(bool)
        times[ai, aj] = ans["time"][keep]

    slots = _slot_columns(pi_paper, pi_pos, pi_col, pi_brow, n_papers, att_paper) \
        if use_slots and n and len(np.unique(forms)) > 1 else None

    return SessionData(session, items, [a.candidate_id for a in attempts], marks, max_marks, seen, choices, times,
                       forms, slots, ungraded=ungraded, in_progress=in_progress)


def _fetch(stmt) -> list[tuple]:
    """All rows of a Core select straight from the DB-API cursor: plain tuples, no ORM or Row objects (the
    statement's parameters are integers from the database, bound as literals)."""
    db.session.flush()  # the cursor bypasses the session's autoflush
    conn = db.session.connection()
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _paper_item_columns(session_id: int, paper_ids: list[int]) -> dict[str, np.ndarray]:
    """The items of the papers as columns: paper (index into ``paper_ids``), position, version, points
    (None -> 0) and blueprint row (None -> -1). One query for the session's papers, filtered here."""
    rows = _fetch(db.select(PaperItem.paper_id, PaperItem.position, PaperItem.item_version_id,
                            db.func.coalesce(db.cast(PaperItem.points, db.Float), 0.0),
                            db.func.coalesce(PaperItem.blueprint_row, -1))
                  .where(PaperItem.paper_id.in_(db.select(Attempt.paper_id).filter_by(session_id=session_id))))
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    paper = table[:, 0].astype(np.int64)
    index = np.searchsorted(paper_ids, paper) if paper_ids else np.zeros(len(paper), dtype=np.int64)
    wanted = (index < len(paper_ids)) & (np.asarray(paper_ids, dtype=np.int64)[np.minimum(
        index, max(len(paper_ids) - 1, 0))] == paper) if paper_ids else np.zeros(len(paper), dtype=bool)
    table = table[wanted]
    return {"paper": index[wanted], "position": table[:, 1].astype(np.int64),
            "version": table[:, 2].astype(np.int64), "points": table[:, 3], "brow": table[:, 4].astype(np.int64)}


def _answer_columns(session_id: int, attempt_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The answers of the attempts (ascending ids) as columns: attempt (index into ``attempt_ids``), position,
    points (None -> 0), time spent in ms (None -> 0), the chosen options as a bit mask. One query for the
    session's attempts, filtered here."""
    rows = _fetch(db.select(Answer.attempt_id, Answer.position, db.func.coalesce(db.cast(Answer.points, db.Float), 0.0),
                            db.func.coalesce(Answer.time_spent_ms, 0), db.func.coalesce(Answer.response, ""))
                  .where(Answer.attempt_id.in_(db.select(Attempt.id).filter_by(session_id=session_id))))
    table = np.array(rows, dtype=object).reshape(-1, 5)
    numbers = table[:, :4].astype(np.float64)
    attempt = numbers[:, 0].astype(np.int64)
    if len(attempt_ids):
        index = np.searchsorted(attempt_ids, attempt)
        wanted = (index < len(attempt_ids)) & (attempt_ids[np.minimum(index, len(attempt_ids) - 1)] == attempt)
    else:
        index, wanted = np.zeros(len(attempt), dtype=np.int64), np.zeros(len(attempt), dtype=bool)
    responses = table[wanted, 4]
    bit_of = {r: sum(1 << LETTERS.index(c) for c in set(r) if c in LETTERS) for r in set(responses.tolist())}
    bits = np.fromiter((bit_of[r] for r in responses), dtype=np.int64, count=len(responses))
    numbers = numbers[wanted]
    return {"attempt": index[wanted], "position": numbers[:, 1].astype(np.int64), "points": numbers[:, 2],
            "time": numbers[:, 3], "bits": bits}


def _form_labels(pi_paper: np.ndarray, pi_col: np.ndarray, n_papers: int, att_paper: np.ndarray) -> np.ndarray:
    """Per attempt, the label of its paper's form (the multiset of its columns), numbered by first appearance
    in attempt order."""
    n = len(att_paper)
    if n == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort((pi_col, pi_paper))
    counts = np.bincount(pi_paper, minlength=n_papers)
    width = int(counts.max()) if len(counts) else 0
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(order)) - starts[pi_paper[order]]
    signature = np.full((n_papers, width + 1), -1, dtype=np.int64)
    signature[:, 0] = counts
    signature[pi_paper[order], rank + 1] = pi_col[order]
    _, paper_form = np.unique(signature, axis=0, return_inverse=True)
    att_form = paper_form.reshape(-1)[att_paper]
    _, first, inverse = np.unique(att_form, return_index=True, return_inverse=True)
    label_of = np.empty(len(first), dtype=int)
    label_of[np.argsort(first, kind="stable")] = np.arange(len(first))
    return label_of[inverse.reshape(-1)]


def _slot_columns(pi_paper, pi_pos, pi_col, pi_brow, n_papers: int, att_paper) -> np.ndarray:
    """Moodle's view of random questions: slot = (blueprint row, k-th item drawn from it, by position);
    (attempt, slot) -> the column of the item the attempt had there (-1: none)."""
    order = np.lexsort((pi_pos, pi_brow, pi_paper))  # stable: ties keep the rows' order
    paper, brow, col = pi_paper[order], pi_brow[order], pi_col[order]
    k = np.arange(len(order))
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (paper[1:] != paper[:-1]) | (brow[1:] != brow[:-1])
    rank = k - np.maximum.accumulate(np.where(new_group, k, 0))
    pairs, slot = np.unique(np.stack([brow, rank], axis=1), axis=0, return_inverse=True)
    paper_slots = np.full((n_papers, len(pairs)), -1, dtype=int)
    paper_slots[paper, slot.reshape(-1)] = col
    return paper_slots[att_paper]


def default_cut_score(session: ExamSession, totals: np.ndarray) -> tuple[float | None, str]:
    """The exam score at the scheme's certification ratio (the candidates are certified from the top)."""
    if len(totals) == 0:
        return None, ""
    ratio = float(session.scheme.ratio) if session.scheme is not None and session.scheme.ratio else None
    if ratio is None:
        return None, ""
    return float(np.quantile(totals, 1 - ratio)), f"按认定比例 {ratio:.0%} 对应的笔试分位数"


def session_report(session: ExamSession, cut_score: float | None = None) -> SessionReport:
    data = build_session_data(session)
    policy = session.scheme.round.mc_policy if session.scheme is not None else "partial_half"
    guess = np.array([random_guess_score(it.type, it.n_options, it.key, policy) or np.nan for it in data.items])
    keys = np.zeros((len(data.items), len(LETTERS)), dtype=bool)
    for j, it in enumerate(data.items):
        for letter in it.key:
            if letter in LETTERS:
                keys[j, LETTERS.index(letter)] = True
    m = len(data.items)
    source = "手动指定" if cut_score is not None else ""
    if cut_score is None and data.marks.shape[0]:
        raw = data.marks.sum(axis=1)
        poss = data.seen.astype(float) @ data.max_marks if m else np.zeros(len(raw))
        pct = np.where(poss > 0, 100 * raw / np.where(poss > 0, poss, 1), 0.0)
        cut_score, source = default_cut_score(session, pct)
    max_marks = np.where(data.max_marks > 0, data.max_marks, 1.0)
    result = analyse(data.marks, max_marks, seen=data.seen, choices=data.choices, keys=keys,
                     n_options=np.array([it.n_options for it in data.items], dtype=int), times=data.times,
                     forms=data.forms, slots=data.slots, guess=guess, categories=[it.category for it in data.items],
                     cut_score=cut_score)
    report = SessionReport(data, result, cut_score, source)
    for info, st in zip(data.items, result.items):
        flags = list(st.flags) + (["void"] if info.void else [])
        report.rows.append({"info": info, "stats": st, "flags": flags,
                            "flag_labels": [FLAG_LABELS[f] for f in flags]})
    return report


# ---------------------------------------------------------------- state change

DEFAULT_FACILITY_MIN_ATTEMPTS = 30


@dataclass
class FacilityChange:
    item_id: int
    code: str
    stem: str
    n: int
    old: float | None
    new: float | None  # None: skipped (see ``why``)
    why: str = ""


@dataclass
class FacilityPlan:
    """What 写回题库难度 would write: old -> new per item with enough attempts, and the items it skips."""

    session: ExamSession
    min_attempts: int
    candidates: int
    changes: list[FacilityChange] = field(default_factory=list)
    skipped: list[FacilityChange] = field(default_factory=list)


def facility_min_attempts() -> int:
    """The configured minimum of attempts per item before its measured facility may be written back."""
    return int(current_app.config.get("FACILITY_MIN_ATTEMPTS") or DEFAULT_FACILITY_MIN_ATTEMPTS)


def facility_plan(session: ExamSession, min_attempts: int | None = None) -> FacilityPlan:
    """Step one of 写回题库难度 (writes nothing): each item's old and measured facility. Refused while the session
    is open or an attempt is in progress; voided items, items nobody answered and items with fewer than
    ``min_attempts`` attempts are listed as skipped."""
    min_attempts = facility_min_attempts() if min_attempts is None else min_attempts
    if utcnow() < session.closes_at:
        raise AnalysisError("场次尚未结束，不能把测得的难度写回题库")
    report = session_report(session)
    if report.data.in_progress:
        raise AnalysisError(f"仍有 {report.data.in_progress} 名考生在作答，不能写回题库难度")
    if not report.rows:
        raise AnalysisError("本场次没有已评分的答卷，无法测得难度")
    items = {i.id: i for i in db.session.execute(
        db.select(Item).where(Item.id.in_([r["info"].item_id for r in report.rows]))).scalars()}
    plan = FacilityPlan(session, min_attempts, report.analysis.test.n)
    for row in report.rows:
        info, st = row["info"], row["stats"]
        item = items[info.item_id]
        change = FacilityChange(info.item_id, info.code or str(info.item_id), info.stem, st.n, item.facility,
                                None if st.facility is None else round(st.facility, 4))
        if info.void:
            change.why = "已作废"
        elif st.facility is None or st.n == 0:
            change.why = "无人作答"
        elif st.n < min_attempts:
            change.why = f"作答人数 {st.n} 少于 {min_attempts}"
        if change.why:
            change.new = None
            plan.skipped.append(change)
        else:
            plan.changes.append(change)
    return plan


def store_measured_facility(session: ExamSession, *, reason: str = "", min_attempts: int | None = None,
                            actor=None) -> int:
    """Write the measured facility (and n) of each item of ``facility_plan`` on the bank's Item; audited with the
    reason, old -> new per item and the skipped items. Returns how many items. Refused when no item has enough
    attempts (nothing is rewritten). Never commits (the route or CLI does)."""
    plan = facility_plan(session, min_attempts)
    if not plan.changes:
        raise AnalysisError(f"没有作答人数达到 {plan.min_attempts} 的题目，未写回任何难度"
                            f"（{len(plan.skipped)} 道题因样本不足或已作废被跳过）")
    items = {i.id: i for i in db.session.execute(
        db.select(Item).where(Item.id.in_([c.item_id for c in plan.changes]))).scalars()}
    stored = {}
    for c in plan.changes:
        item = items[c.item_id]
        item.facility, item.facility_n = c.new, c.n
        stored[c.code] = {"old": c.old, "new": c.new, "n": c.n}
    db.session.flush()
    audit("exam.item_facility_stored", target=session, round_id=session.round_id, reason=reason, actor=actor,
          items=len(stored), candidates=plan.candidates, min_attempts=plan.min_attempts,
          facility={code: v["new"] for code, v in stored.items()}, changes=stored,
          skipped={c.code: c.why for c in plan.skipped})
    return len(stored)


# ---------------------------------------------------------------- exports

def _r(value, places=4):
    return None if value is None else float(half_up(value, places))


TEST_HEADERS = ["场次", "考生数", "题目数", "试卷种数", "平均分", "中位数", "标准差", "最低分", "最高分", "偏度",
                "峰度", "Cronbach α", "误差比", "测量标准误", "划界分", "划界分处条件标准误", "划界分±1SEM人数"]
ITEM_HEADERS = ["场次", "题目编号", "版本", "题型", "分类", "作答人数", "满分", "平均得分", "难度（得分率）",
                "标准差（占满分）", "区分度（与其余题相关）", "区分效率", "有效权重", "预定权重", "随机猜测得分率",
                "高分组得分率", "低分组得分率", "高低分组区分度", "未作答率", "作答时间中位数（秒）", "难度标准误",
                "试卷组间难度标准差", "试卷组间稳定性比", "标记", "题干"]
OPTION_HEADERS = ["场次", "题目编号", "题型", "选项", "是否答案", "总体选择率", "高分组选择率", "低分组选择率"]


def report_sheets(reports: list[SessionReport]) -> list[Sheet]:
    test_rows, item_rows, option_rows = [], [], []
    for rep in reports:
        t = rep.analysis.test
        name = rep.data.session.name
        test_rows.append([name, t.n, t.items, t.forms, _r(t.mean, 2), _r(t.median, 2), _r(t.sd, 2), _r(t.minimum, 2),
                          _r(t.maximum, 2), _r(t.skewness), _r(t.kurtosis), _r(t.alpha), _r(t.error_ratio),
                          _r(t.sem, 2), _r(t.cut_score, 2), _r(t.sem_at_cut, 2), t.near_cut])
        for row in rep.rows:
            info, st = row["info"], row["stats"]
            item_rows.append([name, info.code, info.version, TYPE_LABELS.get(info.type, info.type), info.category,
                              st.n, st.max_mark, _r(st.mean_mark), _r(st.facility), _r(st.sd),
                              _r(st.discrimination), _r(st.discriminative_efficiency), _r(st.effective_weight),
                              _r(st.intended_weight), _r(st.random_guess), _r(st.upper_facility),
                              _r(st.lower_facility), _r(st.upper_lower), _r(st.omit_rate),
                              _r(st.median_time_ms / 1000, 1) if st.median_time_ms is not None else None,
                              _r(st.facility_se), _r(st.form_sd), _r(st.form_stability),
                              "、".join(row["flag_labels"]), info.stem])
            for k, freq in enumerate(st.option_freq):
                option_rows.append([name, info.code, TYPE_LABELS.get(info.type, info.type), LETTERS[k],
                                    "是" if LETTERS[k] in info.key else "", _r(freq),
                                    _r(st.option_upper[k]) if st.option_upper else None,
                                    _r(st.option_lower[k]) if st.option_lower else None])
    return [Sheet("测验统计", TEST_HEADERS, test_rows), Sheet("题目分析", ITEM_HEADERS, item_rows),
            Sheet("选项分析", OPTION_HEADERS, option_rows)]


def round_sessions(rnd: Round) -> list[ExamSession]:
    return list(db.session.execute(real_sessions().filter_by(round_id=rnd.id)
                                   .order_by(ExamSession.opens_at, ExamSession.id)).scalars())


def write_items_export(rnd: Round, path: str) -> None:
    """``certify export items --round CODE FILE``: every session of the round, three sheets."""
    from certify.tabular import write_file

    sessions = round_sessions(rnd)
    if not sessions:
        raise ValueError(f"轮次 {rnd.code} 没有笔试场次")
    write_file(path, report_sheets([session_report(s) for s in sessions]))

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

from collections import defaultdict
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

    Rows are read as plain tuples and the matrices are filled with numpy index arrays: a large session has
    hundreds of thousands of answers."""
    attempts_all = list(db.session.execute(
        real_attempts(Attempt.id, Attempt.candidate_id, Attempt.paper_id, Attempt.state, Attempt.graded_at)
        .filter_by(session_id=session.id).order_by(Attempt.id)))
    in_progress = sum(1 for a in attempts_all if a.state == IN_PROGRESS)
    closed = [a for a in attempts_all if a.state in CLOSED_STATES]
    attempts = [a for a in closed if a.graded_at is not None]
    ungraded = len(closed) - len(attempts)

    # paper items per paper, as plain tuples (position, version, points, blueprint row)
    rows_by_paper = _paper_item_rows(sorted({a.paper_id for a in attempts}))
    version_ids = sorted({pi[1] for pis in rows_by_paper.values() for pi in pis})
    versions = {v.id: v for v in db.session.execute(
        db.select(ItemVersion).where(ItemVersion.id.in_(version_ids))).scalars()} if version_ids else {}
    codes = {i.id: i.code for i in db.session.execute(
        db.select(Item).where(Item.id.in_({v.item_id for v in versions.values()})))
        .scalars()} if versions else {}
    keys, void = _effective_keys(session.id, versions)

    ordered = sorted(versions.values(), key=lambda v: (*_category_rank(v.category), codes.get(v.item_id, ""), v.id))
    col = {v.id: j for j, v in enumerate(ordered)}
    items = [ItemInfo(v.id, v.item_id, codes.get(v.item_id, ""), v.version, v.type, v.stem, v.category,
                      len(v.options or []), keys[v.id], v.id in void) for v in ordered]
    n, m = len(attempts), len(items)

    papers = {pid: _paper_arrays(pis, col) for pid, pis in rows_by_paper.items()}
    use_slots = all(brow is not None for *_, brow in papers.values())
    max_marks = np.zeros(m)
    for _, cols, pts, _ in papers.values():
        np.maximum.at(max_marks, cols, pts)

    max_pos = max((int(p[0].max()) for p in papers.values() if len(p[0])), default=0)
    pos_col = np.full((n, max_pos + 1), -1, dtype=int)  # (attempt, position) -> column
    pos_pts = np.ones((n, max_pos + 1))  # (attempt, position) -> the paper's points for it
    seen = np.zeros((n, m), dtype=bool)
    forms = np.zeros(n, dtype=int)
    form_labels: dict[tuple, int] = {}
    for i, att in enumerate(attempts):
        pos, cols, pts, _ = papers.get(att.paper_id, (np.zeros(0, int), np.zeros(0, int), np.zeros(0), None))
        pos_col[i, pos] = cols
        pos_pts[i, pos] = pts
        seen[i, cols] = True
        forms[i] = form_labels.setdefault(tuple(sorted(cols.tolist())), len(form_labels))

    index_of = {a.id: i for i, a in enumerate(attempts)}
    a_idx, a_pos, a_pts, a_bits, a_time = [], [], [], [], []
    bit_cache: dict[str, int] = {}  # response letters -> bit mask of the chosen options
    for chunk in range(0, n, 500):
        ids = [a.id for a in attempts[chunk:chunk + 500]]
        result = db.session.execute(
            db.select(Answer.attempt_id, Answer.position, Answer.response, db.cast(Answer.points, db.Float),
                      Answer.time_spent_ms).where(Answer.attempt_id.in_(ids)))
        for attempt_id, position, response, points, spent in result:
            a_idx.append(index_of[attempt_id])
            a_pos.append(position)
            a_pts.append(points if points is not None else 0.0)
            bits = bit_cache.get(response)
            if bits is None:
                bits = bit_cache[response] = sum(1 << LETTERS.index(c) for c in set(response or "") if c in LETTERS)
            a_bits.append(bits)
            a_time.append(spent or 0)
    marks = np.zeros((n, m))
    choices = np.zeros((n, m, len(LETTERS)), dtype=bool)
    times = np.zeros((n, m))
    if a_idx:
        ai, ap = np.array(a_idx), np.array(a_pos)
        inside = ap <= max_pos
        ai, ap = ai[inside], ap[inside]
        aj = pos_col[ai, ap]
        on_paper = aj >= 0  # an answer to a position the paper does not have is ignored
        ai, ap, aj = ai[on_paper], ap[on_paper], aj[on_paper]
        keep = np.flatnonzero(inside)[on_paper]
        pts = np.array(a_pts)[keep]
        scale = np.where(pos_pts[ai, ap] > 0, max_marks[aj] / np.where(pos_pts[ai, ap] > 0, pos_pts[ai, ap], 1), 0)
        marks[ai, aj] = np.clip(pts * scale, 0, max_marks[aj])
        bits = np.array(a_bits, dtype=np.int64)[keep]
        choices[ai, aj] = ((bits[:, None] >> np.arange(len(LETTERS))) & 1).astype(bool)
        times[ai, aj] = np.array(a_time, dtype=float)[keep]

    slots = _slot_columns(papers, attempts) if use_slots and len(form_labels) > 1 and n else None

    return SessionData(session, items, [a.candidate_id for a in attempts], marks, max_marks, seen, choices, times,
                       forms, slots, ungraded=ungraded, in_progress=in_progress)


def _paper_item_rows(paper_ids: list[int]) -> dict[int, list]:
    """The items of each paper as plain tuples (position, version, points, blueprint row)."""
    rows_by_paper: dict[int, list] = defaultdict(list)
    for chunk in range(0, len(paper_ids), 500):
        ids = paper_ids[chunk:chunk + 500]
        result = db.session.execute(
            db.select(PaperItem.paper_id, PaperItem.position, PaperItem.item_version_id,
                      db.cast(PaperItem.points, db.Float), PaperItem.blueprint_row)
            .where(PaperItem.paper_id.in_(ids)))
        for paper_id, *rest in result:
            rows_by_paper[paper_id].append(rest)
    return rows_by_paper


def _paper_arrays(pis: list, col: dict[int, int]):
    """(positions, matrix columns, points, blueprint rows or None when a row is unknown) of one paper."""
    pos_list, version_list, points_list, row_list = zip(*pis)
    pos = np.array(pos_list, dtype=int)
    cols = np.array([col[v] for v in version_list], dtype=int)
    pts = np.array([p if p is not None else 0.0 for p in points_list], dtype=float)
    brow = None if any(r is None for r in row_list) else np.array(row_list, dtype=int)
    return pos, cols, pts, brow


def _slot_columns(papers: dict, attempts: list) -> np.ndarray:
    """Moodle's view of random questions: slot = (blueprint row, k-th item drawn from it, by position);
    (attempt, slot) -> the column of the item the attempt had there (-1: none)."""
    slot_of: dict[tuple[int, int], int] = {}
    per_paper = {}
    for pid, (pos, cols, _, brow) in papers.items():
        order = np.lexsort((pos, brow))
        rank = np.zeros(len(order), dtype=int)
        for k in range(1, len(order)):
            rank[k] = rank[k - 1] + 1 if brow[order[k]] == brow[order[k - 1]] else 0
        per_paper[pid] = [(int(brow[o]), int(r), int(cols[o])) for o, r in zip(order, rank)]
        for b, r, _ in per_paper[pid]:
            slot_of.setdefault((b, r), 0)
    for s_idx, key in enumerate(sorted(slot_of)):
        slot_of[key] = s_idx
    slots = np.full((len(attempts), len(slot_of)), -1, dtype=int)
    for i, att in enumerate(attempts):
        for b, r, c in per_paper.get(att.paper_id, []):
            slots[i, slot_of[(b, r)]] = c
    return slots


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

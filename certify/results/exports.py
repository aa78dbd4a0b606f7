"""Results exports: 成绩汇总 (DOMAIN.md columns exactly) and the publicity list (公示, no ID number).

The publicity list names only those proposed for certification (认定 after complaints: a revoked certification,
during or after the publicity period, drops out), with name, work unit and level, as the notice publishes them."""
from __future__ import annotations

from decimal import Decimal

from certify.domain import half_up, mask_id_number
from certify.models import Round
from certify.tabular import Sheet, write_file

from .models import CERTIFIED, OUTCOME_LABELS
from .operations import Computation, ResultsError, current, frozen, levels_with_candidates, result_set_for

RESULT_HEADERS = ["准考证号", "姓名", "证件号", "工作单位", "认证级别", "笔试成绩", "答辩成绩", "业绩成果得分", "总分",
                  "排名", "认证结果"]
PUBLICITY_HEADERS = ["序号", "姓名", "工作单位", "认证级别"]
NUMERIC = {5: "0.00", 6: "0.00", 7: "0.00", 8: "0.00"}


def _num(value) -> Decimal | None:
    return half_up(value) if value is not None else None


def computations(rnd: Round) -> list[Computation]:
    return [current(rnd, level) for level in levels_with_candidates(rnd)]


def results_sheet(rnd: Round, *, masked: bool) -> Sheet:
    rows = []
    for comp in computations(rnd):
        scheme = comp.scheme
        for ln in comp.lines:
            c = ln.candidate
            rows.append([c.ticket, c.name, mask_id_number(c.id_number) if masked else c.id_number, c.work_unit,
                         c.level,
                         _num(ln.components["exam"]) if scheme.has_exam else None,
                         _num(ln.components["defense"]) if scheme.has_defense else None,
                         _num(ln.components["record"]) if scheme.record_weight > 0 else None,
                         _num(ln.total), ln.rank,
                         OUTCOME_LABELS.get(ln.final_outcome, "") if ln.final_outcome else ""])
    return Sheet("成绩汇总", RESULT_HEADERS, rows, dict(NUMERIC))


def publicity_rows(rnd: Round) -> list[list]:
    """The confirmed levels only, from their frozen entries (no live computation of the others); of those, only
    the candidates proposed for certification (not 未认定, 缺考 or revoked). Raises when no level is confirmed."""
    rows, confirmed = [], False
    for level in levels_with_candidates(rnd):
        rs = result_set_for(rnd, level)
        if rs is None or not rs.confirmed:
            continue
        confirmed = True
        for ln in frozen(rs).lines:
            if ln.final_outcome == CERTIFIED:
                rows.append([len(rows) + 1, ln.candidate.name, ln.candidate.work_unit, ln.candidate.level])
    if not confirmed:
        raise ResultsError(f"{rnd.code} 尚无已确认的成绩，无法生成公示名单")
    return rows


def publicity_sheet(rnd: Round) -> Sheet:
    return Sheet("公示名单", PUBLICITY_HEADERS, publicity_rows(rnd))


def export_results(rnd: Round, path: str) -> None:
    """``certify export results``: the secretariat's full export (full ID numbers)."""
    write_file(path, [results_sheet(rnd, masked=False)])


def export_publicity(rnd: Round, path: str) -> None:
    write_file(path, [publicity_sheet(rnd)])


def register_exporters() -> None:
    """The two results exports as background-job exporters (``certify.export_job``): same sheets, same names."""
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.export_job import Exporter, register_exporter

    register_exporter(Exporter(
        name="results.results", title="成绩汇总导出",
        build=lambda rnd, masked=True: [results_sheet(rnd, masked=bool(masked))],
        filename=lambda rnd, params, fmt: f"{rnd.code}-成绩汇总",
        # whole ID numbers: the secretariat only (can_see_full_ids)
        roles=lambda params: (SECRETARIAT, SUPERVISOR) if params.get("masked", True) else (SECRETARIAT,),
        params={"masked": True}, cli_kind="results", cli_params={"masked": False}))
    register_exporter(Exporter(
        name="results.publicity", title="公示名单导出",
        build=lambda rnd: [publicity_sheet(rnd)],
        filename=lambda rnd, params, fmt: f"{rnd.code}-公示名单",
        cli_kind="publicity"))

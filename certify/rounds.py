"""Round and scheme operations."""
from __future__ import annotations

from decimal import Decimal

from .audit import audit
from .domain import REGION_PRESETS, validate_ratio, validate_weights
from .errors import DomainError
from .extensions import db
from .models import Candidate, ComponentScore, Round, Scheme


class RoundError(DomainError):
    """A refused change to a round or its schemes (one or more Chinese messages)."""

    code = "round_invalid"

    def __init__(self, messages, *, code: str | None = None, status: int | None = None, **extra):
        super().__init__(code, messages, status, **extra)


def find_round(code: str) -> Round | None:
    return db.session.execute(db.select(Round).filter_by(code=code)).scalar_one_or_none()


def get_round(code: str) -> Round:
    rnd = find_round(code)
    if rnd is None:
        raise RoundError(f"认证轮次「{code}」不存在", code="round_not_found", status=404)
    return rnd


def create_round(code: str, region: str, year: int, name: str = "") -> Round:
    code = (code or "").strip()
    if not code:
        raise RoundError("轮次代码不能为空")
    if region not in REGION_PRESETS:
        raise RoundError(f"不支持的地区「{region}」，可选：{'、'.join(REGION_PRESETS)}")
    if not (2000 <= int(year) <= 2100):
        raise RoundError(f"年份「{year}」无效")
    if db.session.execute(db.select(Round.id).filter_by(code=code)).first():
        raise RoundError(f"轮次代码「{code}」已存在", code="round_exists", status=409)
    rnd = Round(code=code, region=region, year=int(year), name=name.strip())
    for p in REGION_PRESETS[region]:
        rnd.schemes.append(Scheme(level=p.level, exam_weight=p.exam_weight, defense_weight=p.defense_weight,
                                  record_weight=p.record_weight, ratio=p.ratio))
    db.session.add(rnd)
    db.session.flush()
    audit("round.create", target=rnd, round_id=rnd.id, code=code, region=region, year=year)
    return rnd


def round_has_scores(rnd: Round) -> bool:
    return db.session.execute(
        db.select(ComponentScore.id).join(Candidate).where(Candidate.round_id == rnd.id).limit(1)
    ).first() is not None


def update_scheme(scheme: Scheme, *, exam_weight: Decimal, defense_weight: Decimal, record_weight: Decimal,
                  ratio: Decimal, min_total: Decimal | None = None) -> None:
    """Edit a scheme's weights and ratio. Weights are frozen once any score of the round exists."""
    errors = validate_weights(exam_weight, defense_weight, record_weight) + validate_ratio(ratio)
    if min_total is not None and not (Decimal(0) <= min_total <= Decimal(100)):
        errors.append(f"最低总分必须在 0 到 100 之间（现为 {min_total}）")
    weights_changed = (scheme.exam_weight, scheme.defense_weight, scheme.record_weight) != (
        exam_weight, defense_weight, record_weight)
    if weights_changed and round_has_scores(scheme.round):
        errors.append("本轮已有成绩，不能再修改权重")
    if errors:
        raise RoundError(errors)
    before = {"exam": scheme.exam_weight, "defense": scheme.defense_weight, "record": scheme.record_weight,
              "ratio": scheme.ratio, "min_total": scheme.min_total}
    if not weights_changed and (scheme.ratio, scheme.min_total) == (ratio, min_total):
        return  # saving an unchanged form writes nothing
    scheme.exam_weight, scheme.defense_weight, scheme.record_weight = exam_weight, defense_weight, record_weight
    scheme.ratio, scheme.min_total = ratio, min_total
    audit("scheme.update", target=scheme, round_id=scheme.round_id, level=scheme.level, before=before,
          after={"exam": exam_weight, "defense": defense_weight, "record": record_weight, "ratio": ratio,
                 "min_total": min_total})


def update_round_settings(rnd: Round, *, name: str, mc_policy: str, publicity_working_days: int,
                          publicity_issuer: str | None = None, publicity_contact: str | None = None) -> None:
    """Edit a round's title, multiple-choice policy and publicity settings (days, issuing body, complaint contact;
    ``None`` keeps the stored value). The policy is frozen once scores exist."""
    from .domain import MC_POLICIES

    errors = []
    name = (name or "").strip()
    if len(name) > 200:
        errors.append("名称过长（最多 200 个字符）")
    if mc_policy not in MC_POLICIES:
        errors.append(f"未知的多选题计分规则「{mc_policy}」")
    elif mc_policy != rnd.mc_policy and round_has_scores(rnd):
        errors.append("本轮已有成绩，不能再修改多选题计分规则")
    if publicity_working_days is None or not (1 <= int(publicity_working_days) <= 30):
        errors.append(f"公示工作日须在 1 到 30 之间（现为 {publicity_working_days}）")
    issuer = rnd.publicity_issuer if publicity_issuer is None else publicity_issuer.strip()
    contact = rnd.publicity_contact if publicity_contact is None else publicity_contact.strip()
    if len(issuer) > 200:
        errors.append("公示发布单位过长（最多 200 个字符）")
    if len(contact) > 300:
        errors.append("投诉受理方式过长（最多 300 个字符）")
    if errors:
        raise RoundError(errors)
    before = {"name": rnd.name, "mc_policy": rnd.mc_policy, "publicity_working_days": rnd.publicity_working_days,
              "publicity_issuer": rnd.publicity_issuer, "publicity_contact": rnd.publicity_contact}
    after = {"name": name, "mc_policy": mc_policy, "publicity_working_days": int(publicity_working_days),
             "publicity_issuer": issuer, "publicity_contact": contact}
    if before == after:
        return
    rnd.name, rnd.mc_policy, rnd.publicity_working_days = name, mc_policy, int(publicity_working_days)
    rnd.publicity_issuer, rnd.publicity_contact = issuer, contact
    audit("round.update", target=rnd, round_id=rnd.id, before=before, after=after)

"""Constants and presets of the certification domain (DOMAIN.md). Pure: no Flask, no database."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Roles
SECRETARIAT = "secretariat"
CANDIDATE = "candidate"
PANELIST = "panelist"
SUPERVISOR = "supervisor"
ROLES = (SECRETARIAT, CANDIDATE, PANELIST, SUPERVISOR)
ROLE_LABELS = {SECRETARIAT: "秘书处", CANDIDATE: "考生", PANELIST: "评审专家", SUPERVISOR: "监督委员会"}

# Levels
JUNIOR = "初级"
INTERMEDIATE = "中级"
LEVELS = (JUNIOR, INTERMEDIATE)

# Components of a total
EXAM = "exam"
DEFENSE = "defense"
RECORD = "record"
COMPONENTS = (EXAM, DEFENSE, RECORD)
COMPONENT_LABELS = {EXAM: "笔试成绩", DEFENSE: "答辩成绩", RECORD: "业绩成果得分"}

# Multiple-choice policies
MC_PARTIAL_HALF = "partial_half"  # exact key: full; strict subset: half; any wrong option: 0
MC_ALL_OR_NOTHING = "all_or_nothing"
MC_POLICIES = {MC_PARTIAL_HALF: "少选得一半，错选不得分", MC_ALL_OR_NOTHING: "完全正确才得分"}


@dataclass(frozen=True)
class SchemePreset:
    level: str
    exam_weight: Decimal
    defense_weight: Decimal
    record_weight: Decimal
    ratio: Decimal


# Presets per region (DOMAIN.md table). The ratio is the secretariat's choice; 0.80 is a starting value.
REGION_PRESETS: dict[str, tuple[SchemePreset, ...]] = {
    "重庆": (
        SchemePreset(JUNIOR, Decimal("50"), Decimal("0"), Decimal("50"), Decimal("0.80")),
        SchemePreset(INTERMEDIATE, Decimal("20"), Decimal("40"), Decimal("40"), Decimal("0.80")),
    ),
    "吉林": (SchemePreset(JUNIOR, Decimal("0"), Decimal("0"), Decimal("100"), Decimal("0.80")),),
}
REGIONS = tuple(REGION_PRESETS)


def validate_weights(exam: Decimal, defense: Decimal, record: Decimal) -> list[str]:
    """Return the problems with a scheme's weights (empty when valid)."""
    errors = []
    for label, value in (("笔试权重", exam), ("答辩权重", defense), ("业绩成果权重", record)):
        if value is None:
            errors.append(f"{label}不能为空")
        elif value < 0 or value > 100:
            errors.append(f"{label}必须在 0 到 100 之间（现为 {value}）")
    if not errors and exam + defense + record != 100:
        errors.append(f"三项权重之和必须为 100（现为 {exam + defense + record}）")
    return errors


def validate_ratio(ratio: Decimal) -> list[str]:
    if ratio is None or not Decimal(ratio).is_finite() or ratio <= 0 or ratio > 1:
        return [f"认定比例必须大于 0 且不超过 1（现为 {ratio}）"]
    return []


def half_up(value, places: int = 2) -> Decimal | None:
    """Round half-up to ``places`` decimals (None stays None). Scores are kept exact and rounded only here, when
    shown or exported; quotas round with ``places=0``."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def mask_id_number(id_number: str | None) -> str:
    """First 6 and last 4 characters shown (DOMAIN.md)."""
    if not id_number:
        return ""
    if len(id_number) <= 10:
        return id_number[:2] + "*" * max(len(id_number) - 2, 0)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def can_see_full_ids(user) -> bool:
    """Only the secretariat sees whole ID numbers (pages, exports, the audit trail); everyone else sees them
    masked with ``mask_id_number``. ``user`` is any object with a ``role`` (anonymous: none)."""
    return getattr(user, "role", None) == SECRETARIAT

"""One formatting rule for ratios and weights shown to people: a percentage with at most two decimals, no
trailing zeros (0.6 -> "60%", 0.3333 -> "33.33%", weight 33.33 -> "33.33%", weight 40.00 -> "40%"). Pure."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_HUNDREDTH = Decimal("0.01")


def _percent_text(value: Decimal) -> str:
    text = format(value.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def ratio_percent(ratio) -> str:
    """A certification ratio (0–1] as a percentage; None -> "—"."""
    if ratio is None:
        return "—"
    return _percent_text(Decimal(str(ratio)) * 100)


def weight_percent(weight) -> str:
    """A component weight (already a percentage, 0–100) in the same form; None -> "—"."""
    if weight is None:
        return "—"
    return _percent_text(Decimal(str(weight)))

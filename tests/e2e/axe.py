"""axe-core (vendored, pinned: static/vendor/axe-core/VERSION) injected into a page under test.

``axe_violations(page)`` runs axe over the whole document (WCAG 2.x A/AA rules and axe's best practices) and returns
the violations as plain dicts; ``by_impact`` counts them (nodes, not rules) per impact for the figures."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

AXE_JS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const r = await axe.run(document, { resultTypes: ['violations'] });
  return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')) }));
}"""


def axe_violations(page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(_RUN)


def by_impact(violations: list[dict]) -> dict[str, int]:
    counts = Counter()
    for v in violations:
        counts[v["impact"] or "none"] += len(v["nodes"])
    return dict(counts)


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING]

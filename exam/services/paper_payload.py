"""The candidate's paper as the API sends it, rendered once per paper (pure: plain values in, JSON text out).

A paper never changes once generated (bank item versions are immutable, a regeneration makes new papers, an
erratum changes keys only), so what a candidate sees of it is rendered when the paper is made and stored with it
(``Paper.payload_json``). startAttempt and getAttempt splice that text into their response; only the per-attempt
fields of each item (``response``, ``flagged``, ``seq``, ``time_spent_ms``) are filled in per request, and an
attempt with no saved answers gets the stored text as it is.

The stored text is ``{"format": FORMAT, "items": [...]}`` encoded exactly as the API's JSON (Flask's provider:
ASCII-escaped, keys sorted, compact separators), the items in paper order, each with the per-attempt fields at their
"no answer yet" values. Nothing in it is a key, an explanation or points awarded: an item is built from the fields
below only. Change the shape of an item and bump ``FORMAT``: a stored text of another format is rendered again.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

FORMAT = 1
LETTERS = "ABCDEFGH"
PREFIX = f'{{"format":{FORMAT},"items":'
NO_ANSWER = {"response": [], "flagged": False, "seq": 0, "time_spent_ms": 0}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Version:
    """What a candidate sees of a bank item version."""

    item_id: int
    id: int
    version: int
    type: str
    type_label: str
    stem: str
    options: Sequence[str]


@dataclass(frozen=True)
class Answer:
    """A saved answer's per-attempt fields (``response`` in letters, e.g. "AC")."""

    response: str
    flagged: bool
    seq: int
    time_spent_ms: int


def dumps(value) -> str:
    """The API's encoding (``flask.json`` out of debug mode): ASCII-escaped, keys sorted, compact."""
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def points_text(points) -> str:
    """A paper item's points as the API shows them: the stored ``NUMERIC(6, 2)``, e.g. "2.00", "1.67"."""
    return str(Decimal(points).quantize(CENT))


def item(position: int, points, option_order: Sequence[int] | None, version: Version) -> dict:
    """One item as the candidate sees it before answering: options in the paper's order, each named by its
    written letter."""
    order = option_order or range(len(version.options))
    return {"position": position, "item_id": version.item_id, "item_version_id": version.id,
            "version": version.version, "type": version.type, "type_label": version.type_label,
            "stem": version.stem, "points": points_text(points),
            "options": [{"id": LETTERS[w], "text": version.options[w]} for w in order], **NO_ANSWER}


def render(items: Iterable[dict]) -> str:
    """The stored text of a paper from its items (``item``), in paper order."""
    return dumps({"format": FORMAT, "items": sorted(items, key=lambda i: i["position"])})


def items_text(stored: str | None) -> str | None:
    """The items array (JSON text) of a stored rendering, or None when there is none of the current format."""
    if not stored or not stored.startswith(PREFIX) or not stored.endswith("}"):
        return None
    return stored[len(PREFIX):-1]


def with_answers(items: str, answers: Mapping[int, Answer]) -> str:
    """The items array with an attempt's saved answers filled in (the text itself when there are none)."""
    if not answers:
        return items
    out = json.loads(items)
    for entry in out:
        answer = answers.get(entry["position"])
        if answer is not None:
            entry.update(response=list(answer.response), flagged=bool(answer.flagged), seq=answer.seq,
                         time_spent_ms=answer.time_spent_ms)
    return dumps(out)

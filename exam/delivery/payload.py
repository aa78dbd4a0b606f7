"""The stored paper payload (``Paper.payload_json``, rendered by ``exam.services.paper_payload``): made when papers
are made (generation, the practice paper), read by startAttempt and getAttempt.

Rendering checks every item against the API's response model (``schemas.PaperItem``, which forbids any field
outside the contract), so what is stored is what the contract allows; a request then only splices the text. A paper
without a stored payload of the current format (made before it existed, or by a script) is rendered from its rows
on first use, and stored when the caller may write (a start; getAttempt is a GET and never writes).
"""
from __future__ import annotations

from collections.abc import Iterable

from pydantic import TypeAdapter
from sqlalchemy import bindparam, select, update

from certify.extensions import db
from question_bank.models import TYPE_LABELS, ItemVersion

from ..models import Answer, Paper, PaperItem
from ..services import paper_payload
from ..services.paper_payload import Version
from . import schemas

_CHECK = TypeAdapter(list[schemas.PaperItem])
_STORED = select(Paper.__table__.c.payload_json).where(Paper.__table__.c.id == bindparam("b_paper"))
_ANSWERS = select(*(Answer.__table__.c[k] for k in ("position", "response", "flagged", "seq", "time_spent_ms"))) \
    .where(Answer.__table__.c.attempt_id == bindparam("b_attempt"))
_IN_CHUNK = 900  # ids per IN (…) list (SQLite's bound-parameter limit is far above; a bounded statement anyway)


def version_of(version: ItemVersion) -> Version:
    return Version(version.item_id, version.id, version.version, version.type, TYPE_LABELS[version.type],
                   version.stem, tuple(version.options or ()))


def versions(ids: Iterable[int]) -> dict[int, Version]:
    """The shown fields of bank item versions, by id (one query per ``_IN_CHUNK`` ids)."""
    ids = sorted(set(ids))
    out: dict[int, Version] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        for row in db.session.execute(
                select(ItemVersion.item_id, ItemVersion.id, ItemVersion.version, ItemVersion.type, ItemVersion.stem,
                       ItemVersion.options).where(ItemVersion.id.in_(ids[start:start + _IN_CHUNK]))):
            out[row.id] = Version(row.item_id, row.id, row.version, row.type, TYPE_LABELS[row.type], row.stem,
                                  tuple(row.options or ()))
    return out


def render(lines: Iterable[tuple], shown: dict[int, Version], checked: set[int] | None = None) -> str:
    """A paper's stored payload from its lines ``(position, points, option_order, item_version_id)``, its items
    checked against the response model. ``checked``: versions whose item already passed in this run (the fields an
    item adds per paper are built above from integers and the version's own options), so a session's generation
    checks each version once, not once per paper."""
    items = [paper_payload.item(position, points, order, shown[version_id])
             for position, points, order, version_id in lines]
    unchecked = items if checked is None else [i for i in items if i["item_version_id"] not in checked]
    _CHECK.validate_python(unchecked)
    if checked is not None:
        checked.update(i["item_version_id"] for i in unchecked)
    return paper_payload.render(items)


def render_stored(paper_id: int) -> str:
    """A paper's payload rendered from its stored items (the lazy path; one query)."""
    rows = db.session.execute(
        select(PaperItem.position, PaperItem.points, PaperItem.option_order, ItemVersion.item_id, ItemVersion.id,
               ItemVersion.version, ItemVersion.type, ItemVersion.stem, ItemVersion.options)
        .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(PaperItem.paper_id == paper_id).order_by(PaperItem.position)).all()
    shown = {r.id: Version(r.item_id, r.id, r.version, r.type, TYPE_LABELS[r.type], r.stem, tuple(r.options or ()))
             for r in rows}
    return render(((r.position, r.points, r.option_order, r.id) for r in rows), shown)


def items_json(paper_id: int, attempt_id: int | None, *, store: bool = False) -> str:
    """The attempt's ``items`` as JSON text: the paper's stored payload with the attempt's saved answers filled in
    (``attempt_id`` None: a new attempt, which has none, so nothing more is read). ``store``: a payload rendered
    here is kept (only when the caller writes anyway)."""
    stored = db.session.execute(_STORED, {"b_paper": paper_id}).scalar()
    items = paper_payload.items_text(stored)
    if items is None:
        stored = render_stored(paper_id)
        if store:
            db.session.execute(update(Paper.__table__).where(Paper.__table__.c.id == paper_id)
                               .values(payload_json=stored))
        items = paper_payload.items_text(stored)
    if attempt_id is None:
        return items
    answers = {row.position: paper_payload.Answer(row.response or "", row.flagged, row.seq, row.time_spent_ms)
               for row in db.session.execute(_ANSWERS, {"b_attempt": attempt_id})}
    return paper_payload.with_answers(items, answers)

"""Question bank models. An item is an identity; every edit makes a new ItemVersion, and anything that used
an old version (a paper, an attempt) keeps pointing at that version."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db

SINGLE, MULTIPLE, TRUEFALSE = "single", "multiple", "truefalse"
ITEM_TYPES = (SINGLE, MULTIPLE, TRUEFALSE)
TYPE_LABELS = {SINGLE: "单选", MULTIPLE: "多选", TRUEFALSE: "判断"}
ITEM_LEVELS = ("初级", "中级", "通用")
ACTIVE, RETIRED = "active", "retired"
STATUS_LABELS = {ACTIVE: "在用", RETIRED: "停用"}
TRUEFALSE_OPTIONS = ["正确", "错误"]  # a 判断 item's options; key "A" = 正确, "B" = 错误


class Item(db.Model):
    __tablename__ = "items"
    __table_args__ = (CheckConstraint("status IN ('active', 'retired')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)  # 编号: given, or generated (Q000123)
    stem_key: Mapped[str] = mapped_column(String(64), index=True)  # hash of the normalised stem
    status: Mapped[str] = mapped_column(String(10), default=ACTIVE, index=True)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("item_versions.id", use_alter=True, name="fk_items_current_version_id_item_versions"))
    # Measured facility (mean mark / max mark) from the latest item analysis; feeds paper assembly.
    facility: Mapped[float | None]
    facility_n: Mapped[int | None]  # how many attempts the facility was measured on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    current: Mapped[ItemVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)
    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", foreign_keys="ItemVersion.item_id", order_by="ItemVersion.version")


class ItemVersion(db.Model):
    __tablename__ = "item_versions"
    __table_args__ = (
        UniqueConstraint("item_id", "version"),
        CheckConstraint("type IN ('single', 'multiple', 'truefalse')", name="type"),
        CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty"),
        CheckConstraint("level IN ('初级', '中级', '通用')", name="level"),
        Index("ix_item_versions_filter", "category", "type", "difficulty", "level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    type: Mapped[str] = mapped_column(String(10))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON)  # ["…", "…"], 2–8 entries, in the written order A, B, …
    answer: Mapped[str] = mapped_column(String(8))  # letters in order, e.g. "B", "ACD"; 判断: "A" 正确 / "B" 错误
    category: Mapped[str] = mapped_column(String(60))
    difficulty: Mapped[int]
    level: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text, default="")
    # Stem and options as plain text for searching (JSON columns may hold \u-escaped text on PostgreSQL).
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    item: Mapped[Item] = relationship(back_populates="versions", foreign_keys=[item_id])

    @property
    def type_label(self) -> str:
        return TYPE_LABELS[self.type]


def search_text_of(stem: str | None, options) -> str:
    """ItemVersion.search_text: the stem and the options, one per line."""
    return "\n".join([stem or "", *(str(o) for o in (options or []))])


@event.listens_for(ItemVersion, "before_insert")
def _fill_search_text(_mapper, _connection, version: ItemVersion) -> None:
    """Versions made elsewhere (exam fixtures, benchmarks) are searchable too."""
    if not version.search_text:
        version.search_text = search_text_of(version.stem, version.options)

"""Uploaded files kept in the instance folder until they are confirmed (or for a day): the one place for them.

An importer that previews a file, or hands a large one to a worker job, stages the upload here under its own
prefix (``instance/uploads/<prefix>-<token>.bin`` and its metadata ``…json``): the bank (``bank``), the roster
(``roster``), the work-record scores (``records``), the panelists and their conflicts (``panelists``). The web
process and the worker share the instance folder (DEPLOYMENT.md), so the job re-reads the file the page checked.
The token is the only handle: random, checked against one pattern before it touches a path.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,20}$")
MAX_AGE_SECONDS = 24 * 3600


def valid_token(token: str | None) -> bool:
    return bool(_TOKEN.match(token or ""))


@dataclass(frozen=True)
class Staged:
    token: str
    data: bytes
    filename: str
    meta: dict = field(default_factory=dict)


def _folder(create: bool = True) -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


class Uploads:
    """The staged uploads of one importer (one file-name prefix)."""

    def __init__(self, prefix: str):
        if not _PREFIX.match(prefix):
            raise ValueError(f"bad staging prefix {prefix!r}")
        self.prefix = prefix

    def _paths(self, folder: Path, token: str) -> tuple[Path, Path]:
        return folder / f"{self.prefix}-{token}.bin", folder / f"{self.prefix}-{token}.json"

    def stage(self, data: bytes, filename: str, **meta) -> str:
        """Keep an upload (its bytes, its file name, JSON metadata); returns its token. Sweeps this prefix's
        uploads older than ``MAX_AGE_SECONDS``."""
        folder = _folder()
        self._sweep(folder)
        token = secrets.token_urlsafe(24)
        data_path, meta_path = self._paths(folder, token)
        data_path.write_bytes(data)
        # The metadata file is written last: a staged upload exists once both files are there.
        meta_path.write_text(json.dumps({**meta, "filename": filename}), encoding="utf-8")
        return token

    def load(self, token: str) -> Staged | None:
        """The staged upload, or None when the token is unknown, malformed, expired or damaged."""
        if not valid_token(token):
            return None
        data_path, meta_path = self._paths(_folder(create=False), token)
        try:
            if meta_path.stat().st_mtime < time.time() - MAX_AGE_SECONDS:
                return None
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            filename = str(meta.pop("filename"))
            return Staged(token, data_path.read_bytes(), filename, meta)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # half-written, damaged or gone
            return None

    def discard(self, token: str | None) -> None:
        if not valid_token(token):
            return
        for path in self._paths(_folder(create=False), token):
            path.unlink(missing_ok=True)

    def pending(self) -> list[tuple[str, str, float]]:
        """Uploads not yet confirmed nor discarded (younger than ``MAX_AGE_SECONDS``): (token, original file
        name, upload time as a POSIX timestamp), oldest first. Nothing is created or swept (a page's read)."""
        folder = _folder(create=False)
        if not folder.is_dir():
            return []
        cutoff, out = time.time() - MAX_AGE_SECONDS, []
        for meta_path in folder.glob(f"{self.prefix}-*.json"):
            token = meta_path.name[len(self.prefix) + 1:-len(".json")]
            try:
                staged_at = meta_path.stat().st_mtime
                if staged_at < cutoff or not valid_token(token):
                    continue
                filename = str(json.loads(meta_path.read_text(encoding="utf-8"))["filename"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if self._paths(folder, token)[0].exists():
                out.append((token, filename, staged_at))
        return sorted(out, key=lambda t: t[2])

    def _sweep(self, folder: Path) -> None:
        cutoff = time.time() - MAX_AGE_SECONDS
        for path in folder.glob(f"{self.prefix}-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

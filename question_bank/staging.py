"""Uploaded bank files waiting for confirmation, kept in the instance folder (instance/uploads/bank-<token>)."""
from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

from certify.tabular import SUPPORTED, display_name

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
MAX_AGE_SECONDS = 24 * 3600


def _folder(instance_path: str) -> Path:
    folder = Path(instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage(instance_path: str, data: bytes, filename: str, user_id: int | None) -> str:
    folder = _folder(instance_path)
    _sweep(folder)
    token = secrets.token_urlsafe(24)
    (folder / f"bank-{token}.bin").write_bytes(data)
    (folder / f"bank-{token}.json").write_text(json.dumps({"filename": filename, "user_id": user_id}),
                                              encoding="utf-8")
    return token


def load(instance_path: str, token: str) -> tuple[bytes, str, int | None] | None:
    """(data, original filename, uploader id) or None when the token is unknown or malformed."""
    if not _TOKEN.match(token or ""):
        return None
    folder = _folder(instance_path)
    data_path, meta_path = folder / f"bank-{token}.bin", folder / f"bank-{token}.json"
    if not (data_path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return data_path.read_bytes(), str(meta["filename"]), meta.get("user_id")
    except (OSError, ValueError, KeyError, TypeError):  # a half-written or damaged staging entry
        return None


def discard(instance_path: str, token: str) -> None:
    if not _TOKEN.match(token or ""):
        return
    folder = _folder(instance_path)
    for suffix in (".bin", ".json"):
        (folder / f"bank-{token}{suffix}").unlink(missing_ok=True)


def pending(instance_path: str) -> list[tuple[str, str, float]]:
    """Uploaded files not yet confirmed nor discarded (younger than ``MAX_AGE_SECONDS``): (token, original file
    name, upload time as a POSIX timestamp), oldest first. Nothing is created or swept (a page's read)."""
    folder = Path(instance_path) / "uploads"
    if not folder.is_dir():
        return []
    cutoff, out = time.time() - MAX_AGE_SECONDS, []
    for meta_path in folder.glob("bank-*.json"):
        try:
            staged_at = meta_path.stat().st_mtime
            if staged_at < cutoff:
                continue
            filename = str(json.loads(meta_path.read_text(encoding="utf-8"))["filename"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        token = meta_path.name[len("bank-"):-len(".json")]
        if _TOKEN.match(token) and (folder / f"bank-{token}.bin").exists():
            out.append((token, filename, staged_at))
    return sorted(out, key=lambda t: t[2])


def safe_filename(name: str) -> str:
    """Keep the user's (often Chinese) file name for messages; only its last path part, bounded, without
    control characters (a NUL in a name must not reach the audit trail)."""
    return display_name(name)


def supported(name: str) -> bool:
    return (name or "").lower().endswith(SUPPORTED)


def _sweep(folder: Path) -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in folder.glob("bank-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass

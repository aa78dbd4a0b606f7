"""Uploaded bank files waiting for confirmation (``certify.jobs.staging``, prefix ``bank``), and the checks on an
uploaded file's name."""
from __future__ import annotations

from certify.jobs.staging import Uploads
from certify.tabular import SUPPORTED, display_name

UPLOADS = Uploads("bank")


def safe_filename(name: str) -> str:
    """Keep the user's (often Chinese) file name for messages; only its last path part, bounded, without
    control characters (a NUL in a name must not reach the audit trail)."""
    return display_name(name)


def supported(name: str) -> bool:
    return (name or "").lower().endswith(SUPPORTED)

"""Tables as Flask download responses. Kept out of certify.tabular so the pure services can use the tables
without importing Flask."""
from __future__ import annotations

import io
from collections.abc import Sequence

from flask import send_file

from .tabular import Sheet, export_bytes


def send_table(download_name: str, fmt: str, sheets: Sequence[Sheet]):
    """The sheets as an ``.xlsx`` or ``.csv`` attachment named ``download_name.fmt``."""
    content, mimetype = export_bytes(fmt, sheets)
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=f"{download_name}.{fmt}")

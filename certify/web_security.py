"""HTTP defaults that protect personal data and let browsers cache what is safe to cache.

- ``Cache-Control: no-store`` on every response to a logged-in session (pages, API, exports): nothing personal stays
  in a shared browser or proxy cache. Decided from the session cookie alone, without loading the user.
- Static files: ``url_for('static', filename=…)`` adds ``?v=<content hash>``; a request with that fingerprint gets a
  far-future ``max-age`` and ``immutable`` (a changed file has a new URL). Without it the browser revalidates
  (ETag / Last-Modified) every time.
- A request to ``/api/*`` carrying a header credential (``certify.access.HeaderCredential``: the exam's attempt
  pass) is served without its session cookie: ``CredentialAwareSessionInterface`` does not decode the cookie (an
  empty session, never written back), so the header is the request's only credential.
- The security headers (``FixedHeadersTalisman``: Flask-Talisman's CSP, frame options, nosniff, referrer policy,
  HSTS on HTTPS) are worked out once per kind of request (HTTP/HTTPS) and copied onto each response, instead of
  Talisman rebuilding the policy strings on every response: no view has Talisman options of its own.
- ``ProxyFix`` for TRUSTED_PROXIES trusted proxies (nginx), so the scheme, host and client address are the real ones
  for Secure cookies, HSTS, the Socket.IO origin check and login throttling.
"""
from __future__ import annotations

import hashlib
import os

from flask import g, request, session
from flask.sessions import SecureCookieSessionInterface

_hashes: dict[str, tuple[float, str]] = {}


def static_fingerprint(static_folder: str, filename: str) -> str | None:
    path = os.path.join(static_folder, filename)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    cached = _hashes.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(65536), b""):
            digest.update(chunk)
    value = digest.hexdigest()[:12]
    _hashes[path] = (mtime, value)
    return value


def talisman_class():
    from flask_talisman import Talisman

    class FixedHeadersTalisman(Talisman):
        """Flask-Talisman with its per-response work done once: the headers it would set, per (HTTPS, forwarded
        HTTPS), computed on the first response of each kind; views with their own Talisman options (none today)
        and CSP nonces still go through Talisman's own code."""

        def _own_options(self) -> bool:
            from flask import current_app

            view = current_app.view_functions.get(request.endpoint)
            return bool(getattr(view, "talisman_view_options", None)) or bool(self.content_security_policy_nonce_in)

        def _force_https(self):
            if not self.force_https and not self.session_cookie_secure and not self._own_options():
                return None
            return super()._force_https()

        def _make_nonce(self):
            if self._own_options():
                return super()._make_nonce()
            return None

        def _set_response_headers(self, response):
            if self._own_options():
                return super()._set_response_headers(response)
            kind = (request.is_secure, request.headers.get("X-Forwarded-Proto", "http") == "https")
            cache = self.__dict__.setdefault("_fixed_headers", {})
            headers = cache.get(kind)
            if headers is None:
                from werkzeug.datastructures import Headers

                probe = type("Probe", (), {"headers": Headers()})()
                super()._set_response_headers(probe)
                headers = cache[kind] = list(probe.headers.items())
            for name, value in headers:
                response.headers[name] = value
            return response

    return FixedHeadersTalisman


class CredentialAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that an ``/api/*`` request with a header credential gets an empty
    session without the cookie being read (no signature check, no decode: the header is its credential)."""

    def open_session(self, app, request):
        from .access import credential_sent

        if credential_sent():
            return self.session_class()
        return super().open_session(app, request)


def init_app(app) -> None:
    from .login_throttle import install_proxy_fix

    app.session_interface = CredentialAwareSessionInterface()

    install_proxy_fix(app)  # the one place X-Forwarded-* is believed, and only from TRUSTED_PROXIES proxies

    @app.url_defaults
    def _fingerprint_static(endpoint, values):
        if endpoint == "static" and "filename" in values and "v" not in values and app.static_folder:
            digest = static_fingerprint(app.static_folder, values["filename"])
            if digest:
                values["v"] = digest

    hashed_max_age = int(app.config.get("STATIC_HASHED_MAX_AGE", 365 * 24 * 3600))
    plain_get_max_age = app.get_send_file_max_age

    def get_send_file_max_age(filename):
        if request and request.endpoint == "static" and request.args.get("v"):
            return hashed_max_age
        return plain_get_max_age(filename)

    app.get_send_file_max_age = get_send_file_max_age

    @app.after_request
    def _cache_headers(response):
        if request.endpoint == "static":
            if request.args.get("v") and response.status_code in (200, 304):
                response.headers["Cache-Control"] = f"public, max-age={hashed_max_age}, immutable"
            return response
        if "_user_id" in session or "credential" in g:  # a user's request: personal data, never cached anywhere
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        return response

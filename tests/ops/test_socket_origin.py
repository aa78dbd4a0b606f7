"""The Socket.IO origin check is on: a browser page from another origin cannot open a connection (engine.io's
handshake is refused), the page's own origin and configured origins can."""
from __future__ import annotations

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def test_a_foreign_origin_is_refused(client):
    resp = client.get(HANDSHAKE, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 400
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_the_same_origin_and_clients_without_origin_connect(client):
    same = client.get(HANDSHAKE, headers={"Origin": "http://localhost"})
    assert same.status_code == 200 and same.get_data(as_text=True).startswith("0{")
    assert client.get(HANDSHAKE).status_code == 200  # no Origin header: not a browser cross-site request


def test_configured_origins_are_allowed_besides_the_own(run_app):
    body = run_app("""
        import json
        from certify import create_app
        c = create_app({"TESTING": True}).test_client()
        hs = "/socket.io/?EIO=4&transport=polling"
        print(json.dumps([c.get(hs, headers={"Origin": o}).status_code
                          for o in ("https://exam.example.org", "http://localhost", "http://evil.example")]))
    """, {"SOCKETIO_ALLOWED_ORIGINS": "https://exam.example.org, https://other.example.org"})
    assert body == [200, 200, 400]

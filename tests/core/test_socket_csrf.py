"""Socket.IO connections carry the page's CSRF token: a logged-in user's socket cannot be opened (and its
state-changing events sent) by a page of another site that rides on the session cookie. Checked once at connect
for every namespace (``certify.uow.check_socket_csrf``, run by ``UnitOfWorkNamespace``)."""
from __future__ import annotations

import pytest

from certify.extensions import socketio
from tests.conftest import login, socket_auth
from tests.defense.conftest_scoring import restore_socketio  # noqa: F401

NAMESPACES = ("/exam", "/defense")


@pytest.fixture
def staff_client(app, make_user):
    flask_client = app.test_client()
    user = make_user("secretariat")
    assert login(flask_client, user.username).status_code == 302
    return flask_client


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_connection_with_the_pages_token_is_accepted(app, staff_client, restore_socketio, namespace):
    client = socketio.test_client(app, namespace=namespace, flask_test_client=staff_client,
                                  auth=socket_auth(staff_client))
    assert client.is_connected(namespace)
    client.disconnect(namespace=namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("auth", [None, {}, {"csrf_token": ""}, {"csrf_token": 42}, {"csrf_token": "x" * 5000},
                                  {"csrf_token": "IjAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODki.forged"}])
def test_a_connection_without_a_valid_token_is_refused(app, staff_client, restore_socketio, namespace, auth):
    client = socketio.test_client(app, namespace=namespace, flask_test_client=staff_client, auth=auth)
    assert not client.is_connected(namespace)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_another_sessions_token_is_refused(app, make_user, staff_client, restore_socketio, namespace):
    other = app.test_client()
    assert login(other, make_user("secretariat").username).status_code == 302
    client = socketio.test_client(app, namespace=namespace, flask_test_client=staff_client, auth=socket_auth(other))
    assert not client.is_connected(namespace)


def test_the_refusal_says_why_in_the_connect_error(app):
    from socketio.exceptions import ConnectionRefusedError

    from certify.uow import SOCKET_CSRF_REFUSED, check_socket_csrf

    with app.test_request_context("/socket.io/"), pytest.raises(ConnectionRefusedError) as refused:
        check_socket_csrf({"csrf_token": "forged"})
    assert refused.value.error_args == {"message": "页面已过期，请刷新页面后重试", "data": {"code": SOCKET_CSRF_REFUSED}}

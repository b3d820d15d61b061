"""The core's HTTP helpers: "did the request ever leave?", asked of real sockets."""

import socket
import threading

import pytest
import requests

from builders import closed_port_url
from gps_core.http import never_sent, new_session


def failure(url: str, timeout=(2.0, 0.3)) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        new_session().post(url, data=b"{}", timeout=timeout)
    return caught.value


def test_a_refused_connection_never_left():
    assert never_sent(failure(closed_port_url()))


def test_a_request_sent_to_a_server_that_never_answers_may_have_left():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        error = failure(f"http://127.0.0.1:{listener.getsockname()[1]}/api")
        assert isinstance(error, requests.exceptions.ReadTimeout)
        assert not never_sent(error)
    finally:
        thread.join(timeout=5)
        for sock in accepted + [listener]:
            sock.close()


def test_a_connection_dropped_after_sending_may_have_left():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def drop():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    try:
        error = failure(f"http://127.0.0.1:{listener.getsockname()[1]}/api", timeout=(2.0, 5.0))
        assert not never_sent(error)
    finally:
        thread.join(timeout=5)
        listener.close()

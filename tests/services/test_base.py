"""The probe that tells whether a server answers on its Unix socket."""

import socket
import threading

from checker.services.base import unix_reply


def test_a_server_s_first_answer_is_returned(tmp_path):
    path = tmp_path / "server.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()

        def answer():
            client, _ = server.accept()
            with client:
                if client.recv(64) == b"PING\r\n":
                    client.sendall(b"+PONG\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        reply = unix_reply(path, b"PING\r\n")
        thread.join()

    assert reply == b"+PONG\r\n"


def test_a_socket_nothing_listens_on_answers_nothing(tmp_path):
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(str(path))

    assert unix_reply(path, b"PING\r\n", timeout=0.5) == b""

"""Receive a run's email on a Unix socket, and note which process sent each.

    with MailSink(folder / "smtp.sock") as sink:
        sink.refuse(1)            # the next connection gets 421, then closes
        ...
        sink.messages()           # every message received, oldest first

The shop's email backend (`checker.harness.mail_backend`) speaks SMTP to this
socket. The kernel names the connecting process (`SO_PEERCRED`), and its
parents are read from /proc as it connects, so a test can tell a message a
worker sent from one the request's process sent, whatever the shop says.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "SITES_HEADER",
    "SOCKET_NAME",
    "MailSink",
    "ReceivedMail",
    "Refusal",
    "ancestry",
]

# The sink's socket in the run's `mail` folder, which a sandbox binds.
SOCKET_NAME = "smtp.sock"
# The header the shop's backend adds: the project lines that sent the message,
# innermost first. Its word only names places; it counts nothing.
SITES_HEADER = "X-Course-Sent-From"
REFUSAL = b"421 4.3.2 Service not available, closing transmission channel\r\n"
_LINE_MAX = 64 * 1024
_MESSAGE_MAX = 4 * 1024 * 1024


def ancestry(pid: int) -> tuple[int, ...]:
    """Return `pid` and its parents' pids, as /proc tells them now."""
    chain = [pid]
    while pid > 1:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        parents = [line for line in status.splitlines() if line.startswith("PPid:")]
        pid = int(parents[0].split()[1]) if parents else 0
        if pid in chain or pid <= 0:
            break
        chain.append(pid)
    return tuple(chain)


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted, and who connected to send it."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    # The sending process and its parents, from the kernel and /proc.
    pids: tuple[int, ...]
    uid: int

    @property
    def subject(self) -> str:
        """Return the message's Subject header."""
        return str(self._parsed()["Subject"] or "")

    @property
    def sites(self) -> tuple[str, ...]:
        """Return the project lines the shop's backend said sent it."""
        return tuple(str(self._parsed()[SITES_HEADER] or "").split())

    def _parsed(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    def sent_by(self, pid: int | None) -> bool:
        """Tell whether the process `pid` or one it started sent the message."""
        return pid is not None and pid in self.pids


@dataclass(frozen=True)
class Refusal:
    """One connection the sink refused, as a failing mail server does."""

    pids: tuple[int, ...]


@dataclass
class _Record:
    messages: list[ReceivedMail] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    to_refuse: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _peer(connection: socket.socket) -> tuple[tuple[int, ...], int]:
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    pid, uid, _ = struct.unpack("3i", credentials)
    return ancestry(pid), uid


def _address(argument: bytes) -> str:
    """Return the address of `FROM:<a@b>` or `TO:<a@b>`."""
    _, _, rest = argument.partition(b":")
    return rest.strip().split(b" ")[0].strip(b"<>").decode(errors="replace")


class _Session(socketserver.StreamRequestHandler):
    """One SMTP session: just enough of RFC 5321 for smtplib to send mail."""

    server: _Server

    def handle(self) -> None:
        record = self.server.record
        pids, uid = _peer(self.request)
        with record.lock:
            refusing = record.to_refuse > 0
            if refusing:
                record.to_refuse -= 1
                record.refusals.append(Refusal(pids))
        if refusing:
            self.wfile.write(REFUSAL)
            return
        self._reply(b"220 course-sink ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline(_LINE_MAX):
            verb, _, argument = line.rstrip(b"\r\n").partition(b" ")
            verb = verb.upper()
            if verb in {b"EHLO", b"HELO"}:
                self._reply(b"250 course-sink")
            elif verb == b"MAIL":
                sender, recipients = _address(argument), []
                self._reply(b"250 OK")
            elif verb == b"RCPT":
                recipients.append(_address(argument))
                self._reply(b"250 OK")
            elif verb == b"DATA":
                self._reply(b"354 End data with <CR><LF>.<CR><LF>")
                message = ReceivedMail(
                    sender, tuple(recipients), self._data(), pids, uid
                )
                with record.lock:
                    record.messages.append(message)
                self._reply(b"250 OK")
            elif verb in {b"RSET", b"NOOP"}:
                self._reply(b"250 OK")
            elif verb == b"QUIT":
                self._reply(b"221 Bye")
                return
            else:
                self._reply(b"502 Command not implemented")

    def _reply(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")

    def _data(self) -> bytes:
        lines: list[bytes] = []
        size = 0
        while line := self.rfile.readline(_LINE_MAX):
            if line in {b".\r\n", b".\n"}:
                break
            # Undo the sender's dot-stuffing.
            line = line[1:] if line.startswith(b"..") else line
            size += len(line)
            if size <= _MESSAGE_MAX:
                lines.append(line)
        return b"".join(lines)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, record: _Record) -> None:
        self.record = record
        super().__init__(path, _Session)


class MailSink:
    """An SMTP server on the Unix socket `path`, recording what it receives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._record = _Record()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on the socket; any user may connect (a sandboxed shop does)."""
        self.path.unlink(missing_ok=True)
        self._server = _Server(str(self.path), self._record)
        os.chmod(self.path, 0o777)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and remove the socket; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def refuse(self, count: int) -> None:
        """Answer the next `count` connections with 421 and close them."""
        with self._record.lock:
            self._record.to_refuse = count

    def clear(self) -> None:
        """Forget what was received and refuse nothing."""
        with self._record.lock:
            self._record.messages.clear()
            self._record.refusals.clear()
            self._record.to_refuse = 0

    def messages(self) -> list[ReceivedMail]:
        """Return the messages received so far, oldest first."""
        with self._record.lock:
            return list(self._record.messages)

    def refusals(self) -> list[Refusal]:
        """Return the connections refused so far, oldest first."""
        with self._record.lock:
            return list(self._record.refusals)

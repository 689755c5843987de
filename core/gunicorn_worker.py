"""gunicorn's threaded worker with each request read whole before a thread takes it.

The threat: a client that connects and sends nothing, stops in the middle of the TLS
handshake, or dribbles its request headers one byte at a time (slowloris). gunicorn's sync
worker gives such a client the whole process; its gthread worker gives it a thread as soon
as one byte arrives, then blocks in the handshake and the header read with no time limit.
A handful of such connections stopped `make run` for everyone.

Here the worker's event loop does the TLS handshake and reads the request headers (and a
small body, such as a login form) without blocking, and hands the connection to a thread
only once the request is complete. A connection that has not sent a complete request within
``header_timeout`` seconds of being accepted (or of its previous response, when kept alive)
is closed, and the log says how many were closed and where they stood. A request whose
framing is ambiguous (two Content-Length, Content-Length with Transfer-Encoding: see
core/request_framing.py) is answered 400 and closed here. Once a thread has the request,
every read and write on the socket is limited to ``cfg.timeout`` seconds.

A body larger than ``BODY_BUFFER`` (an invoice upload) is handed over once its first
``BODY_BUFFER`` bytes are here; the thread reads the rest, and must get it at
``body_min_rate`` bytes per second on average (after ``header_timeout`` seconds of grace) or
the read fails and the thread is freed. What it does not cover: a client that sends an upload
just above that rate holds the thread for as long as its upload lasts. Behind nginx or Caddy
the proxy buffers it (docs/security.md).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import http, sock
from gunicorn.workers.gthread import TConn, ThreadWorker

from core.request_framing import BadFraming, body_end, parse_head

__all__ = ["BODY_BUFFER", "HEADER_BUFFER", "BufferingThreadWorker"]

# No request to the portal has headers anywhere near this; a larger header block is closed.
HEADER_BUFFER = 64 * 1024
# Bodies up to this size (every form but an upload) are read by the event loop too.
BODY_BUFFER = 128 * 1024
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass
class _Reading:
    """A connection whose request the event loop is still reading."""

    conn: TConn
    deadline: float
    handshaking: bool
    buf: bytearray = field(default_factory=bytearray)

    @property
    def stage(self) -> str:
        if self.handshaking:
            return "in the TLS handshake"
        return "before sending anything" if not self.buf else "while sending the request"


def _request_complete(buf: bytearray) -> bool | None:
    """True once ``buf`` holds the headers and the whole body, or the first BODY_BUFFER bytes
    of a larger one; None when the headers are larger than HEADER_BUFFER (refused). Raises
    BadFraming for a request to answer 400 (core/request_framing.py)."""
    framing = parse_head(buf)
    if framing is None:
        return None if len(buf) > HEADER_BUFFER else False
    if body_end(buf, framing) is not None:
        return True
    return len(buf) - framing.body_start >= BODY_BUFFER


class _PacedSocket:
    """The socket a thread reads a request body from, with a total deadline: the body must
    arrive at ``min_rate`` bytes per second on average after ``grace`` seconds, or ``recv``
    raises TimeoutError. Each read still waits at most ``per_read`` seconds."""

    def __init__(self, sock: Any, min_rate: float, grace: float, per_read: float | None) -> None:
        self._sock, self._min_rate, self._per_read = sock, min_rate, per_read
        self._start = time.monotonic() + grace
        self._received = 0

    def recv(self, size: int) -> bytes:
        remaining = self._start + self._received / self._min_rate - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request body slower than the minimum rate")
        self._sock.settimeout(min(remaining, self._per_read or remaining))
        try:
            data = self._sock.recv(size)
        finally:
            self._sock.settimeout(self._per_read)
        self._received += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _address(client: Any) -> str:
    """The peer's IP address (gunicorn's ``client`` is a tuple, or a string on a unix socket)."""
    return str(client[0]) if isinstance(client, tuple) and client else str(client or "unix")


class BufferingThreadWorker(ThreadWorker):
    """gthread, with the handshake and the request read by the event loop and bounded in
    time. Refuses (closes) a connection without a complete request after ``header_timeout``
    seconds and one whose headers exceed HEADER_BUFFER. Accepts no new connection while all
    of its threads are busy, so that a free worker takes it, as with the sync worker."""

    header_timeout = 10.0
    body_min_rate = 10240.0

    def init_process(self) -> None:
        self._reading: list[_Reading] = []
        self._busy = 0
        self._ssl_context = sock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        super().init_process()

    # --- accepting ------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self.alive and self._busy < self.cfg.threads)

    def _update_accepting(self) -> None:
        self.set_accept_enabled(self.nr_conns < self.worker_connections)

    def accept(self, listener: Any) -> None:
        try:
            client, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client, addr, listener.getsockname())
        try:
            if self._ssl_context is not None:
                conn.sock = self._ssl_context.wrap_socket(
                    client,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                )
        except OSError as exc:  # reset before we got to it
            self.log.debug("Closed a connection from %s at once: %s", addr, exc)
            self.nr_conns -= 1
            conn.close()
            return
        self._start_reading(conn, handshaking=self._ssl_context is not None)
        self._update_accepting()

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection speaks again: read its next request here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, handshaking=False)

    # --- reading in the event loop --------------------------------------------------------

    def _start_reading(self, conn: TConn, *, handshaking: bool, buffered: bytes = b"") -> None:
        conn.sock.setblocking(False)
        reading = _Reading(conn, time.monotonic() + self.header_timeout, handshaking)
        reading.buf += buffered
        self._reading.append(reading)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read, reading))
        self._read(reading, conn.sock)  # bytes already buffered, or held decrypted by TLS

    def _read(self, reading: _Reading, _fileobj: Any) -> None:
        conn = reading.conn
        try:
            if reading.handshaking:
                conn.sock.do_handshake()
                reading.handshaking = False
            while True:
                try:
                    complete = _request_complete(reading.buf) if reading.buf else False
                except BadFraming as exc:
                    self._refuse(reading, str(exc))
                    return
                if complete is None:
                    self.log.warning(
                        "Closed a connection from %s: request headers over %d bytes",
                        _address(conn.client),
                        HEADER_BUFFER,
                    )
                    self._drop(reading)
                    return
                if complete:
                    self._hand_over(reading)
                    return
                data = conn.sock.recv(16384)
                if not data:
                    self._drop(reading)  # the client went away
                    return
                reading.buf += data
        except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._read, reading))
        except ssl.SSLWantWriteError:
            self.poller.modify(conn.sock, selectors.EVENT_WRITE, partial(self._read, reading))
        except OSError as exc:  # ssl.SSLError too: a failed handshake, a reset
            self.log.debug("Closed a connection from %s while reading: %s", conn.client, exc)
            self._drop(reading)

    def _hand_over(self, reading: _Reading) -> None:
        conn = reading.conn
        self._reading.remove(reading)
        self.poller.unregister(conn.sock)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.initialized = conn.data_ready = True
        conn.parser.unreader.unread(bytes(reading.buf))
        conn.request_complete = True
        self.enqueue_req(conn)

    def _refuse(self, reading: _Reading, reason: str) -> None:
        """Answer 400 (best effort, without blocking) and close."""
        self.log.info("Refused a request from %s: %s", _address(reading.conn.client), reason)
        with contextlib.suppress(OSError):
            reading.conn.sock.send(_BAD_REQUEST)
        self._drop(reading)

    def _drop(self, reading: _Reading) -> None:
        self._reading.remove(reading)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)
        self.nr_conns -= 1
        reading.conn.close()
        self._update_accepting()

    def murder_pending(self) -> None:
        """Run by gunicorn's event loop about once a second: close the connections whose
        request did not arrive in time, and say so in one line."""
        super().murder_pending()
        now = time.monotonic()
        late = [reading for reading in self._reading if reading.deadline <= now]
        if not late:
            return
        stages = Counter(reading.stage for reading in late)
        for reading in late:
            self._drop(reading)
        addresses = sorted({_address(reading.conn.client) for reading in late})
        self.log.warning(
            "Closed %d connection(s) with no complete request within %g s (idle or slow "
            "clients: %s) from %s",
            len(late),
            self.header_timeout,
            ", ".join(f"{count} {stage}" for stage, count in sorted(stages.items())),
            ", ".join(addresses[:5]) + (", ..." if len(addresses) > 5 else ""),
        )

    # --- the threads ----------------------------------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        """Only a complete request goes to a thread. gunicorn's own call (bytes of a next
        request left over after a response) goes back to the event loop to be completed."""
        if not getattr(conn, "request_complete", False):
            self._start_reading(
                conn, handshaking=False, buffered=conn.parser.unreader.take_buffered()
            )
            return
        conn.request_complete = False
        self._busy += 1
        super().enqueue_req(conn)
        self._update_accepting()

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self._busy -= 1
        super().finish_request(conn, fs)
        self._update_accepting()

    def handle_request(self, req: Any, conn: TConn) -> bool:
        """In a thread, headers parsed: bound every further read (a body) and write (the
        response) on the socket, and the body's reading as a whole (``body_min_rate``), so
        that a client that stalls or trickles frees the thread."""
        per_read = self.cfg.timeout or None
        conn.sock.settimeout(per_read)
        unreader = conn.parser.unreader
        unreader.sock = _PacedSocket(conn.sock, self.body_min_rate, self.header_timeout, per_read)
        try:
            return super().handle_request(req, conn)
        finally:
            unreader.sock = conn.sock

"""How much of an HTTP/1.1 request has arrived: its header block, and where its body ends.

Pure functions over the bytes the gunicorn worker's event loop has buffered
(core/gunicorn_worker.py), so that a request goes to a thread only once it is complete, and
a request whose framing is ambiguous is refused before any thread sees it.

Refused (``BadFraming``, answered 400 and closed), as RFC 9112 §6.3 says a server must treat
them as errors, or as gunicorn would refuse them later anyway: more than one Content-Length
(equal or not, or a list), a Content-Length that is not digits, Content-Length together with
Transfer-Encoding, a header line without a colon or with whitespace before it, an obsolete
folded line, and a bare CR or LF (a line another parser could split differently).

``Expect: 100-continue`` changes nothing here: a small body is still waited for (clients that
wait for "100 Continue" send the body anyway after a short while, curl after 1 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HEADER_END", "BadFraming", "Framing", "body_end", "parse_head"]

HEADER_END = b"\r\n\r\n"
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\r\n]*)?")


class BadFraming(ValueError):
    """The request's framing is ambiguous or malformed: answer 400 and close."""


@dataclass(frozen=True)
class Framing:
    """Where the body starts (``body_start``, after the blank line) and how it is framed:
    ``length`` bytes (0 without a body), or chunked."""

    body_start: int
    length: int = 0
    chunked: bool = False


def parse_head(buf: bytes | bytearray) -> Framing | None:
    """The framing of the request in ``buf``, or None while its header block is incomplete.
    Raises BadFraming for the refusals in the module docstring."""
    end = buf.find(HEADER_END)
    if end < 0:
        return None
    head = bytes(buf[:end])
    if b"\n" in head.replace(b"\r\n", b"") or b"\r" in head.replace(b"\r\n", b""):
        raise BadFraming("a bare CR or LF in the header block")
    lines = head.split(b"\r\n")[1:]  # the request line is gunicorn's to judge
    lengths: list[bytes] = []
    transfer_encoding = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise BadFraming("obsolete line folding")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise BadFraming("malformed header line")
        name = name.lower()
        if name == b"content-length":
            lengths.append(value.strip(b" \t"))
        elif name == b"transfer-encoding":
            transfer_encoding = True
    if len(lengths) > 1:
        raise BadFraming("more than one Content-Length")
    if lengths and transfer_encoding:
        raise BadFraming("Content-Length together with Transfer-Encoding")
    body_start = end + len(HEADER_END)
    if transfer_encoding:
        return Framing(body_start, chunked=True)
    if not lengths:
        return Framing(body_start)
    if not lengths[0].isdigit() or len(lengths[0]) > 15:
        raise BadFraming("Content-Length is not a number")
    return Framing(body_start, length=int(lengths[0]))


def body_end(buf: bytes | bytearray, framing: Framing) -> int | None:
    """The offset in ``buf`` just after the body, or None while it is incomplete. A chunked
    body is scanned chunk by chunk up to its last chunk and trailers. Raises BadFraming for a
    malformed chunk size line."""
    if not framing.chunked:
        end = framing.body_start + framing.length
        return end if len(buf) >= end else None
    position = framing.body_start
    while True:
        line_end = buf.find(b"\r\n", position)
        if line_end < 0:
            if len(buf) - position > 1024:
                raise BadFraming("chunk size line too long")
            return None
        match = _CHUNK_SIZE.fullmatch(bytes(buf[position:line_end]))
        if not match:
            raise BadFraming("malformed chunk size")
        size = int(match.group(1), 16)
        position = line_end + 2
        if size == 0:
            break
        position += size + 2
        if len(buf) < position:
            return None
        if buf[position - 2 : position] != b"\r\n":
            raise BadFraming("chunk not followed by CRLF")
    # Trailer fields, then an empty line.
    while True:
        line_end = buf.find(b"\r\n", position)
        if line_end < 0:
            return None
        if line_end == position:
            return line_end + 2
        position = line_end + 2

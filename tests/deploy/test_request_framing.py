"""The gunicorn worker's reading of request framing (core/request_framing.py): a request goes
to a thread only once it is complete, and ambiguous framing is refused before any thread
sees it (RFC 9112 §6.3)."""

from __future__ import annotations

import pytest

from core.gunicorn_worker import BODY_BUFFER, HEADER_BUFFER, _request_complete
from core.request_framing import BadFraming, Framing, body_end, parse_head

LINE = b"POST /accounts/login/ HTTP/1.1\r\n"


def _request(*headers: bytes, body: bytes = b"") -> bytearray:
    return bytearray(LINE + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


@pytest.mark.parametrize(
    "headers",
    [
        (b"Content-Length: 100", b"Host: x", b"Cookie: a=b"),  # not the last header
        (b"Host: x", b"content-LENGTH:100", b"Accept: */*"),
        (b"Host: x", b"Content-Length: \t100 \t", b"Accept: */*"),
        (b"Expect: 100-continue", b"Content-Length: 100", b"Host: x"),
    ],
)
def test_a_small_body_is_waited_for_wherever_its_content_length_stands(headers):
    assert _request_complete(_request(*headers, body=b"username=a")) is False
    assert _request_complete(_request(*headers, body=b"u" * 100)) is True


def test_a_request_without_a_body_is_complete_with_its_headers():
    assert _request_complete(_request(b"Host: x")) is True
    assert _request_complete(bytearray(LINE + b"Host: x\r\n")) is False


def test_headers_over_the_buffer_are_refused():
    assert _request_complete(bytearray(LINE + b"X: " + b"a" * HEADER_BUFFER)) is None


def test_a_large_body_is_handed_over_only_after_its_first_buffer_full():
    headers = (b"Content-Length: %d" % (BODY_BUFFER * 10), b"Host: x")
    assert _request_complete(_request(*headers, body=b"a" * (BODY_BUFFER - 1))) is False
    assert _request_complete(_request(*headers, body=b"a" * BODY_BUFFER)) is True


@pytest.mark.parametrize(
    "headers",
    [
        (b"Content-Length: 10", b"Content-Length: 10"),
        (b"Content-Length: 10", b"Host: x", b"content-length: 12"),
        (b"Content-Length: 10, 10",),
        (b"Content-Length: -1",),
        (b"Content-Length: +10",),
        (b"Content-Length: 0x10",),
        (b"Content-Length: 10", b"Transfer-Encoding: chunked"),
        (b"Transfer-Encoding: chunked", b"Content-Length: 10"),
        (b"Content-Length : 10",),  # whitespace before the colon
        (b"Host: x", b" Content-Length: 10"),  # obsolete folding
        (b"Content-Length 10",),  # no colon
        (b"Host: x\nContent-Length: 10",),  # a bare LF
        (b"Host: x\rContent-Length: 10",),  # a bare CR
    ],
)
def test_ambiguous_or_malformed_framing_is_refused(headers):
    with pytest.raises(BadFraming):
        _request_complete(_request(*headers, body=b"0123456789"))


def test_a_chunked_body_is_complete_at_its_last_chunk_and_trailers():
    head = _request(b"Host: x", b"Transfer-Encoding: chunked")
    framing = parse_head(head)
    assert framing == Framing(len(head), chunked=True)
    assert body_end(head + b"5\r\nhello\r\n", framing) is None
    assert body_end(head + b"5\r\nhello\r\n0\r\n", framing) is None
    assert body_end(head + b"5;ext=1\r\nhello\r\n0\r\n\r\nGET", framing) == len(head) + 21
    assert body_end(head + b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", framing) == len(head) + 23
    with pytest.raises(BadFraming):
        body_end(head + b"zz\r\nhello\r\n", framing)
    with pytest.raises(BadFraming):
        body_end(head + b"5\r\nhelloXX0\r\n\r\n", framing)


def test_a_stalled_chunked_body_is_not_handed_over():
    request = _request(b"Transfer-Encoding: chunked", b"Host: x", body=b"a\r\nusername=a")
    assert _request_complete(request) is False

"""Reading an answer whole, within bounds a hostile server cannot push: a size (decoded bytes
counted, so a gzip bomb stops at the limit, not at the memory's end) and a deadline for the whole
answer (a server that drips a byte a second cannot outlast --timeout).

httpx bounds each read and leaves decoding unbounded; here the raw stream is decoded by zlib a
bounded piece at a time.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Iterator

import httpx

from ..errors import ApiError, NetworkError

ACCEPT_ENCODING = "gzip, deflate"  # the encodings decoded here; no other is asked for
_PIECE = 1 << 20  # decoded bytes produced per step


def _decoder(encoding: str) -> zlib._Decompress | None:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise ApiError(f"the server answered in an encoding this tool did not ask for ({encoding})")


def _decoded(raw: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    decoder = _decoder(encoding.strip().lower())
    if decoder is None:
        yield from raw
        return
    try:
        for chunk in raw:
            data = chunk
            while data:
                yield decoder.decompress(data, _PIECE)
                data = decoder.unconsumed_tail
        while not decoder.eof and (rest := decoder.flush(_PIECE)):
            yield rest
    except zlib.error as exc:
        raise ApiError(f"the server's answer could not be decoded ({encoding}: {exc})") from None


def read_bounded(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """The answer's decoded body, or an error the moment it passes `limit` bytes or the clock
    passes `deadline` (time.monotonic()). Gathered in a BytesIO, whose bytes are handed over
    whole: a bytearray copied to bytes held the body twice (500 MB at 1,000,000 members)."""
    method, path = response.request.method, response.request.url.path
    encoding = response.headers.get("content-encoding", "")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and not encoding and int(declared) > limit:
        raise ApiError(
            f"the server's answer is {int(declared):,} bytes, over the limit of {limit:,} "
            "(--max-response-size)",
            method=method,
            path=path,
        )
    if response.is_stream_consumed:  # an in-memory answer (a test transport): already whole
        pieces: Iterator[bytes] = iter([response.content])
    else:
        pieces = _decoded(response.iter_raw(), encoding)
    body = io.BytesIO()  # its getvalue() hands over its buffer: the body is held once
    for piece in pieces:
        body.write(piece)
        if body.tell() > limit:
            raise ApiError(
                f"the server's answer grew past the limit of {limit:,} bytes (--max-response-size)",
                method=method,
                path=path,
            )
        if time.monotonic() > deadline:
            raise NetworkError(
                "the server's answer took longer than --timeout to arrive",
                sent=True,
                method=method,
                path=path,
            )
    return body.getvalue()


def whole(response: httpx.Response, body: bytes) -> httpx.Response:
    """A plain response holding `body`, decoded: nothing left to stream or to decode."""
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request
    )

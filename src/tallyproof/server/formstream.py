"""A ``multipart/form-data`` body parsed as it arrives, for the county page's plain upload form:
the small fields are collected (each at most :data:`FIELD_MAX` bytes), and the one file is
written to the sink the caller opens when its part begins, block by block, so the file is
never whole in memory nor spooled to the system's temporary folder first (as Starlette's own
form parser does). The fields must come before the file, as a browser sends a form whose file
input is its last field; the caller checks them (the CSRF token first) before a byte of the
file is accepted.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .uploads import UploadRefused

FIELD_MAX = 4096
FIELDS_MAX = 16


class StreamingForm:
    """Parse one form whose field ``file_field`` is the file (see the module docstring)."""

    def __init__(self, content_type: str,
                 open_file: Callable[[dict[str, str], str], Awaitable[BinaryIO]],
                 max_bytes: int, file_field: str = "file") -> None:
        kind, params = parse_options_header(content_type)
        if kind != b"multipart/form-data" or b"boundary" not in params:
            raise UploadRefused(400, "the form must be sent as multipart/form-data")
        self._boundary = params[b"boundary"]
        self._open_file = open_file
        self._max = max_bytes
        self._file_field = file_field
        self.fields: dict[str, str] = {}
        self.file_bytes = 0
        self.file_seen = False
        self._sink: BinaryIO | None = None
        self._name = ""
        self._filename: str | None = None
        self._buf = bytearray()
        self._hf = bytearray()
        self._hv = bytearray()
        self._headers: dict[bytes, bytes] = {}
        #: the file part began in the chunk being parsed: its fields and name, for the
        #: (async) ``open_file`` once the parser returns; its first bytes wait in a buffer
        self._pending: tuple[dict[str, str], str] | None = None
        self._early: io.BytesIO | None = None

    def _part_begin(self) -> None:
        self._headers, self._buf, self._sink = {}, bytearray(), None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._hf += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._hv += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._hf).lower()] = bytes(self._hv)
        self._hf, self._hv = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if self._name == self._file_field:
            if self.file_seen:
                raise UploadRefused(400, "the form may carry one file")
            self.file_seen = True
            self._pending = (dict(self.fields),
                             filename.decode("utf-8", "replace") if filename else "")
            # at most the rest of one chunk, until the file opens
            self._sink = self._early = io.BytesIO()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            self.file_bytes += end - start
            if self.file_bytes > self._max:
                raise UploadRefused(413, f"the file is larger than {self._max:,} bytes")
            self._sink.write(data[start:end])
            return
        self._buf += data[start:end]
        if len(self._buf) > FIELD_MAX:
            raise UploadRefused(400, f"form field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self._sink is None:
            if len(self.fields) >= FIELDS_MAX:
                raise UploadRefused(400, "too many form fields")
            self.fields[self._name] = self._buf.decode("utf-8", "replace")

    async def _open_pending(self) -> None:
        """Open the file's sink (the caller's ``open_file`` may wait for the database, so it
        is awaited here, between two chunks, not inside the parser's callback) and move the
        bytes buffered meanwhile into it."""
        if self._pending is None:
            return
        fields, filename = self._pending
        self._pending = None
        early, self._early = self._early, None
        sink = await self._open_file(fields, filename)
        sink.write(early.getvalue() if early is not None else b"")
        if self._sink is early:  # the part goes on in the next chunk: its bytes go there
            self._sink = sink

    async def parse(self, stream: AsyncIterator[bytes]) -> None:
        parser = MultipartParser(self._boundary, {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished})
        try:
            try:
                async for chunk in stream:
                    parser.write(chunk)
                    await self._open_pending()
                parser.finalize()
            finally:  # a file begun before an error is opened too: the caller records why
                await self._open_pending()
        except FormParserError as exc:
            raise UploadRefused(400, f"the form is not valid multipart data ({exc})") from exc

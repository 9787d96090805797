"""The Firehose HTTP stream: one long GET whose body is newline-delimited JSON, read as it arrives.

The socket read timeout is the silence detector: Spaces sends ``KEEP_ALIVE`` about every 15 s when there is
nothing else, so no byte for several of those intervals means the connection is dead even if TCP has not noticed.
A line cut off by a dropped connection is never yielded (it comes again after the reconnect, from the checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from django.conf import settings

from spaces_calendar.core import http

from .events import MAX_LINE_BYTES

logger = logging.getLogger(__name__)
EVENTS_PATH = "/api/partners/v1/firehose/events"


class StreamError(Exception):
    """The stream failed in a way worth reconnecting for (network, silence, 5xx, odd status)."""


class StreamRefused(Exception):
    """401/403: the API key is wrong or the app was deactivated. Reconnecting with the same key cannot help."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"Firehose refused the API key ({status}): {detail}")
        self.status = status


@dataclass(frozen=True)
class StreamRequest:
    base_url: str
    api_key: str
    min_partition: int = 1
    max_partition: int = 12
    from_timestamp_ms: int | None = None

    def params(self) -> dict[str, str]:
        params = {"minPartition": str(self.min_partition), "maxPartition": str(self.max_partition)}
        if self.from_timestamp_ms is not None:
            params["fromTimestamp"] = str(self.from_timestamp_ms)
        return params


class FirehoseStream:
    """One connection. Iterate :meth:`lines`; call :meth:`close` (from any thread) to end it."""

    def __init__(self, request: StreamRequest, session: requests.Session | None = None):
        self.request = request
        self.session = session or http.build_session()
        self._response: requests.Response | None = None
        self._closed = False

    def lines(self) -> Iterator[bytes]:
        for lines in self.line_groups():
            yield from lines

    def line_groups(self) -> Iterator[list[bytes]]:
        """The complete lines of each chunk as it arrives (handing them on in groups is much cheaper)."""
        url = self.request.base_url.rstrip("/") + EVENTS_PATH
        try:
            response = self.session.get(
                url, params=self.request.params(), headers={"X-API-Key": self.request.api_key,
                                                            "Accept": "application/x-ndjson"},
                stream=True, timeout=(settings.OUTBOUND_CONNECT_TIMEOUT, settings.FIREHOSE_SILENCE_TIMEOUT_S),
            )
        except requests.RequestException as error:
            raise StreamError(f"connect to {http.safe_url(url)} failed: {http.describe(error)}") from None
        self._response = response
        try:
            if response.status_code in (401, 403):
                raise StreamRefused(response.status_code, response.text[:200])
            if response.status_code != 200:
                raise StreamError(f"Firehose answered {response.status_code}")
            yield from self._split(response)
        finally:
            response.close()

    def _split(self, response: requests.Response) -> Iterator[list[bytes]]:
        pending = b""
        skipping = False  # inside an oversize line: drop bytes up to its end
        try:
            for chunk in response.iter_content(chunk_size=None):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                if complete and skipping:
                    complete, skipping = complete[1:], False
                group = [line for line in complete if line.strip()]
                if skipping:
                    pending = b""
                elif len(pending) > MAX_LINE_BYTES:
                    group.append(pending[: MAX_LINE_BYTES + 1])  # handed on so it is refused and set aside
                    pending, skipping = b"", True
                if group:
                    yield group
        except (requests.RequestException, OSError, ValueError, AttributeError) as error:
            if self._closed:  # close() from another thread pulls the socket from under the read
                return
            detail = http.describe(error) if isinstance(error, requests.RequestException) else repr(error)
            raise StreamError(f"stream broke: {detail}") from None
        if not self._closed:
            raise StreamError("the Firehose ended the stream")

    def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()

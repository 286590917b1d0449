"""HTTP checks: one request, its status, headers and the start of its body.

Any HTTP answer is a successful probe (``ok``), a 500 included: the check's conditions judge the status.
The probe fails only when no answer came — refused, timed out, a certificate not accepted, a name that did
not resolve — and its error never quotes the URL (it may hold credentials).

JSON bodies follow CEL's JSON convention: every number is a double, so ``json.used < json.max * 0.8``
works whether the server wrote ``3`` or ``3.0``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from pydantic import BaseModel
from yarl import URL

from siaga.integrations.probes.base import ProbeResult
from siaga.spec.checks import HttpProbe

USER_AGENT = "siaga"
MAX_REDIRECTS = 10
# Past max_body the rest is read and dropped so the connection can be reused, up to this much more; a
# longer (or endless, streaming) body closes the connection instead of running into the timeout.
_MAX_DRAINED = 1024 * 1024
_CHUNK = 64 * 1024


class HttpProber:
    """Probes ``http`` checks through ``session``, or a pooled session of its own made on first use."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self._owns_session = session is None
        # Each check's URL and headers, worked out on its first run (the settings objects live as long as
        # the plan; a reload brings new ones, and the cache is cleared when it outgrows them).
        self._prepared: dict[int, _Prepared] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No connection limit: the scheduler bounds how many probes run at once. DNS answers are
            # cached briefly so a fleet of checks on one host does not resolve it on every run.
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=30, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Request ``settings.url``; ok for any HTTP answer, else the reason no answer came."""
        if not isinstance(settings, HttpProbe):
            raise TypeError(f"HttpProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        prepared = self._prepared.get(id(settings))
        if prepared is None or prepared.settings is not settings:
            if len(self._prepared) > 100_000:
                self._prepared.clear()
            prepared = self._prepared[id(settings)] = _prepare(settings)
        try:
            variables = await _request(self._client(), prepared, timeout)
        except TimeoutError:
            return ProbeResult(False, time.perf_counter() - started, f"timed out after {timeout:g}s")
        except aiohttp.ClientError as exc:
            return ProbeResult(False, time.perf_counter() - started, _failure(exc))
        return ProbeResult(True, time.perf_counter() - started, None, variables)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    settings: HttpProbe
    url: URL
    headers: CIMultiDict[str]
    body: bytes | None


def _prepare(settings: HttpProbe) -> _Prepared:
    url = URL(settings.url)
    headers = CIMultiDict({"User-Agent": USER_AGENT})
    headers.update(settings.headers)  # the spec's own, case-insensitively replacing ours
    if url.user is not None:
        # Credentials written in the URL become the header here, so the URL itself (which the answer's
        # `url` and any message are built from) never carries them.
        headers["Authorization"] = aiohttp.encode_basic_auth(url.user, url.password or "")
        url = url.with_user(None)
    if settings.basic_auth is not None:
        password = settings.basic_auth.password.get_secret_value()
        headers["Authorization"] = aiohttp.encode_basic_auth(settings.basic_auth.username, password)
    if settings.bearer_token is not None:
        headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
    body = settings.body.encode() if settings.body is not None else None
    return _Prepared(settings, url, headers, body)


# The probe's own asyncio.timeout bounds the whole request; aiohttp's is switched off (one timer, not two).
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None)


async def _request(session: aiohttp.ClientSession, prepared: _Prepared, timeout: float) -> dict[str, Any]:
    settings = prepared.settings
    async with (
        asyncio.timeout(timeout),
        session.request(
            settings.method,
            prepared.url,
            headers=prepared.headers,
            data=prepared.body,
            allow_redirects=settings.follow_redirects,
            raise_for_status=False,  # an injected session may raise for 4xx/5xx: here they are answers
            max_redirects=MAX_REDIRECTS,
            ssl=settings.verify_tls,
            timeout=_NO_CLIENT_TIMEOUT,
        ) as response,
    ):
        body = await _read_body(response, settings.max_body)
        text = body.decode(_charset(response), "replace")
        return {
            "status": response.status,
            "body": text,
            "json": _json(body),
            "headers": _headers(response),
            "url": str(response.url.with_user(None)),
        }


async def _read_body(response: aiohttp.ClientResponse, max_body: int) -> bytes:
    kept = bytearray()
    dropped = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        room = max_body - len(kept)
        if room > 0:
            kept += chunk[:room]
            chunk = chunk[room:]
        dropped += len(chunk)
        if dropped > _MAX_DRAINED:
            response.close()  # not worth reading to the end: drop the connection instead
            break
    return bytes(kept)


def _charset(response: aiohttp.ClientResponse) -> str:
    charset = response.charset or "utf-8"
    try:
        b"".decode(charset)
    except LookupError:
        return "utf-8"
    return charset


def _json(body: bytes) -> Any:
    """The body parsed as a JSON object or array (numbers as doubles), else None."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return _doubles(parsed)


def _doubles(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_doubles(item) for item in value]
    return {key: _doubles(item) for key, item in value.items()}


def _headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Header names in lower case; a header sent several times has its values joined by ', '."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _failure(exc: aiohttp.ClientError) -> str:
    """One line saying why no answer came; built from the error's kind, never from its text (URLs)."""
    match exc:
        case aiohttp.ClientConnectorCertificateError():
            cert_error = exc.certificate_error
            reason = getattr(cert_error, "verify_message", None) or getattr(cert_error, "reason", None)
            return f"TLS: certificate verify failed: {reason or 'not accepted'}"
        case aiohttp.ClientConnectorSSLError():
            reason = getattr(exc.os_error, "reason", None) or "unknown reason"
            return f"TLS: handshake failed: {reason.replace('_', ' ').lower()}"
        case aiohttp.ClientConnectorDNSError():
            return f"DNS: {exc.host} did not resolve ({_strerror(exc.os_error)})"
        case aiohttp.ClientConnectorError():
            if exc.os_error.errno == errno.ECONNREFUSED:
                return "connection refused"
            if isinstance(exc.os_error, socket.gaierror):
                return f"DNS: {exc.host} did not resolve ({_strerror(exc.os_error)})"
            return f"connection failed: {_strerror(exc.os_error)}"
        case aiohttp.TooManyRedirects():
            return f"too many redirects (more than {MAX_REDIRECTS})"
        case aiohttp.ServerDisconnectedError():
            return "server disconnected without an answer"
        case aiohttp.ClientPayloadError():
            return "the body could not be read to the end"
        case aiohttp.InvalidURL():
            return "invalid URL (or a redirect to one)"
        case aiohttp.ClientResponseError():
            return f"invalid HTTP answer: {' '.join(str(exc.message).split())[:200]}"
        case aiohttp.ClientOSError():
            return f"connection failed: {_strerror(exc)}"
    return f"HTTP client error: {type(exc).__name__}"


def _strerror(error: OSError) -> str:
    return error.strerror or type(error).__name__

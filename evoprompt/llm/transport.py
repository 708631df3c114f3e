"""HTTP transports of the OpenAI-compatible backend: one JSON POST, its answer read whole.

Two libraries can carry it (``http_client``). aiohttp is the default because the transport is
most of the runner's CPU: against the same loopback endpoint a bare aiohttp loop spends a
fraction of a bare httpx loop's CPU per request (the "transport floor" of
``benchmarks/RESULTS.md``, measured by ``benchmarks/bench/floor.py``), so a fast local server
(vLLM, llama.cpp) is limited by the model rather than by the runner. httpx, the spec's
transport, stays one flag away for a network or proxy that only it gets through.

Each transport turns its library's failures into :mod:`evoprompt.llm.errors` types and hands
back a :class:`Reply`; the backend above classifies status codes without knowing the library.
The API key lives only in a transport's headers: never in a message or an exception; a
``user:password@`` in the base URL is split off here (:func:`split_userinfo`), so the config
stores the URL without it and the backend sends it as Basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from evoprompt.llm.errors import FatalError, TimedOut, TransientError

DEFAULT = "aiohttp"
POOL_SHARD = 2  # connections per httpx pool (see HttpxTransport)


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer as read off the wire: all the backend needs of a response."""

    status: int
    headers: Mapping[str, str]  # case-insensitive, as both libraries give them
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Transport(Protocol):
    async def post(self, path: str, payload: dict[str, Any], timeout: float | None = None) -> Reply:
        """POST ``payload`` as JSON to base URL + ``path`` (``timeout``: seconds, instead of
        the target's); raise TimedOut or TransientError when no answer came back."""

    async def get(self, path: str) -> Reply:
        """GET base URL + ``path`` (a cheap request: the model list), failing as ``post``."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where and how to send: what every transport is built from."""

    base_url: str  # without user:password
    headers: Mapping[str, str]  # Authorization included
    timeout: float
    concurrency: int
    proxy: str | None = None  # an http(s):// URL, credentials included (see env_proxy)


def _timed_out(timeout: float) -> TimedOut:
    return TimedOut(f"request timed out after {round(timeout, 1):g}s")


def _invalid_url(exc: Exception) -> FatalError:
    return FatalError(f"invalid endpoint URL ({exc})", hint="check --base-url")


def _connection_failed(exc: Exception) -> TransientError:
    return TransientError(f"connection failed ({exc.__class__.__name__}: {exc})")


def split_userinfo(url: str) -> tuple[str, str]:
    """``url`` without its ``user:password@`` part, and that part ("" when there is none)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, ""
    userinfo, _, host = parts.netloc.rpartition("@")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), userinfo


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` (or ``Proxy-Authorization``) value for HTTP Basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def tls_context() -> ssl.SSLContext:
    """Verified TLS with ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else certifi's bundle
    (as httpx does), so both transports trust the same authorities on any machine."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not (cafile or capath):
        import certifi

        cafile = certifi.where()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except OSError as exc:  # ssl.SSLError included
        raise FatalError(
            f"cannot load CA certificates ({exc.__class__.__name__}: {exc})",
            hint="point SSL_CERT_FILE / SSL_CERT_DIR at a CA bundle, or unset them",
        ) from None


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``, a ``host:port`` entry included), as httpx reads them: with
    ``http://`` when it names no scheme. Only HTTP(S) proxies can carry the requests."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    scheme = proxy.partition("://")[0].lower()
    if scheme not in ("http", "https"):  # the URL is not shown: it may hold credentials
        raise FatalError(
            f"the environment's proxy for {parts.scheme}:// is a {scheme} proxy, which is not "
            "supported",
            hint="set HTTPS_PROXY / HTTP_PROXY to an http:// proxy, or NO_PROXY to the "
            "endpoint's host to go direct",
        )
    return proxy


class AiohttpTransport:
    """One ``aiohttp.ClientSession`` with a pool of ``concurrency`` connections.

    The session is opened on first use, inside the running event loop, as aiohttp requires;
    what can be wrong with the settings (the proxy, the CA bundle) is found when the
    transport is built, before any call. Redirects are not followed (a redirected POST is a
    misconfigured base URL, reported as its 3xx status). aiohttp's own ``trust_env`` is off:
    it re-reads the proxy settings and ``~/.netrc`` on every request, half the transport's CPU.
    """

    MAX_HEADER = 65536  # bytes per header line (aiohttp's default, 8190, refuses some proxies')

    def __init__(self, target: Target):
        import aiohttp
        import yarl

        self._aiohttp = aiohttp
        self._yarl = yarl
        self._target = target
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, Any] = {}
        secure = target.base_url.lower().startswith("https:")
        self._ssl: ssl.SSLContext | bool = tls_context() if secure else True
        headers = dict(target.headers)
        self._defaults: dict[str, str] | None = headers  # the session's: ~10% less CPU
        self._extra: dict[str, Any] = {}  # post()'s arguments for a proxy
        if target.proxy:
            # Through a proxy the headers go with each request, not as the session's defaults:
            # aiohttp copies those into the proxy's, and the key would reach an HTTPS CONNECT.
            url = yarl.URL(target.proxy)
            self._defaults = None
            self._extra = {"proxy": url.with_user(None), "headers": headers}
            if url.user is not None:
                credentials = {"Proxy-Authorization": basic_auth(url.user, url.password or "")}
                if secure:  # sent on the CONNECT that opens the tunnel
                    self._extra["proxy_headers"] = credentials
                else:  # a plain-HTTP proxy reads the request's own headers
                    headers.update(credentials)

    def _open(self) -> Any:
        aiohttp, t = self._aiohttp, self._target
        self._session = aiohttp.ClientSession(
            headers=self._defaults,
            timeout=aiohttp.ClientTimeout(total=t.timeout),
            connector=aiohttp.TCPConnector(limit=t.concurrency, ssl=self._ssl),
            max_line_size=self.MAX_HEADER,
            max_field_size=self.MAX_HEADER,
        )
        return self._session

    def _url(self, path: str) -> Any:
        url = self._urls.get(path)
        if url is None:  # parsed once per path: yarl's parse is a visible share of a call
            url = self._urls[path] = self._yarl.URL(self._target.base_url + path)
        return url

    async def post(self, path: str, payload: dict[str, Any], timeout: float | None = None) -> Reply:
        session = self._session or self._open()
        extra = self._extra
        if timeout is not None:
            extra = {**extra, "timeout": self._aiohttp.ClientTimeout(total=timeout)}
        request = session.post(self._url(path), json=payload, allow_redirects=False, **extra)
        return await self._send(request, timeout)

    async def get(self, path: str) -> Reply:
        session = self._session or self._open()
        return await self._send(session.get(self._url(path), allow_redirects=False, **self._extra))

    async def _send(self, request: Any, timeout: float | None = None) -> Reply:
        aiohttp = self._aiohttp
        try:
            async with request as r:
                return Reply(r.status, r.headers, await r.read())
        except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
            raise _timed_out(timeout or self._target.timeout) from None
        except aiohttp.InvalidURL as exc:
            raise _invalid_url(exc) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _connection_failed(exc) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport:
    """``httpx.AsyncClient`` pools of at most POOL_SHARD connections, each request on the
    least busy.

    httpcore scans every pooled connection (a poll and a getpeername per idle one) each time a
    request starts or ends, so one pool of C connections costs O(C) per request: at C=32 that
    scan was ~40% of the runner's CPU. Pools of two, not eight: between its calls a worker
    holds no connection (it journals, scores and prunes), so its pool has idle connections to
    scan; pools of two took ~10% off the runner's CPU per call at C=32 against pools of eight.
    """

    def __init__(self, target: Target):
        import httpx

        self._httpx = httpx
        self._timeout = target.timeout
        shards = -(-target.concurrency // POOL_SHARD)
        size = -(-target.concurrency // shards)
        tls = tls_context()  # one for all pools: httpx would build one per pool, ~20 ms each
        self._clients = [
            httpx.AsyncClient(
                base_url=target.base_url,
                headers=dict(target.headers),
                proxy=target.proxy,
                trust_env=False,  # the proxy and the CA bundle are read above, as for aiohttp
                verify=tls,
                timeout=httpx.Timeout(target.timeout),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards

    async def post(self, path: str, payload: dict[str, Any], timeout: float | None = None) -> Reply:
        return await self._send("POST", path, payload, timeout)

    async def get(self, path: str) -> Reply:
        return await self._send("GET", path, None, None)

    async def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout: float | None
    ) -> Reply:
        httpx = self._httpx
        shard = self._busy.index(min(self._busy))
        self._busy[shard] += 1
        client = self._clients[shard]
        try:
            if timeout is None:
                r = await client.request(method, path, json=payload)
            else:
                r = await client.request(method, path, json=payload, timeout=timeout)
        except httpx.TimeoutException:
            raise _timed_out(timeout or self._timeout) from None
        except httpx.InvalidURL as exc:
            raise _invalid_url(exc) from None
        except httpx.RequestError as exc:  # transport failures, and a body that fails to decode
            raise _connection_failed(exc) from None
        finally:
            self._busy[shard] -= 1
        return Reply(r.status_code, r.headers, r.content)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


TRANSPORTS: dict[str, Callable[[Target], Transport]] = {
    "aiohttp": AiohttpTransport,
    "httpx": HttpxTransport,
}

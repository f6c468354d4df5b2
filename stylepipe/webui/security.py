"""Who may talk to ``stylepipe ui``.

The server listens on 127.0.0.1 only. Every request must carry the token of this run
(``?token=`` in the page's URL, the ``X-Stylepipe-Token`` header in the page's own
requests), compared in constant time. A request that names another ``Host`` (DNS
rebinding), comes from another ``Origin`` or, by its ``Sec-Fetch-Site``, from another
site is refused, and a request that changes anything (any method but GET and HEAD) must
carry our ``Origin``: browsers send it with every such request, so a form or script on
another page cannot reach the API even if it guessed the port. A top-level navigation
(opening the URL) carries no ``Origin``; for it the token is the check.

Responses are never cached, send no referrer (the token stays out of other sites'
logs) and cannot be framed by another page.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

TOKEN_HEADER = "x-stylepipe-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
LOOPBACK = "127.0.0.1"
_SITES = frozenset({"same-origin", "none"})
SECURITY_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'; form-action 'none'",
    ),
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Guard:
    """The checks of one server run: its port and its token (new at every start)."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def origins(self) -> tuple[str, ...]:
        return (f"http://{LOOPBACK}:{self.port}", f"http://localhost:{self.port}")

    @property
    def hosts(self) -> tuple[str, ...]:
        return (f"{LOOPBACK}:{self.port}", f"localhost:{self.port}")

    @property
    def url(self) -> str:
        """The page's address, token included: what the user opens."""
        return f"http://{LOOPBACK}:{self.port}/?token={self.token}"

    def refusal(
        self, method: str, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> str | None:
        """Why this request is refused, or ``None`` when it may go on."""
        if headers.get("host") not in self.hosts:
            return f"the Host header must be {self.hosts[0]}"
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return f"requests from {origin} are not accepted"
        if origin is None and method.upper() not in SAFE_METHODS:
            return "a request that changes something must come from the page (no Origin header)"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in _SITES:
            return f"requests from another site are not accepted ({site})"
        given = headers.get(TOKEN_HEADER) or query.get("token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "missing or wrong token: open the address stylepipe ui printed"
        return None


class GuardMiddleware:
    """ASGI middleware: refuses what :meth:`Guard.refusal` refuses (403, JSON), and adds
    :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: the page uses none
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        problem = self.guard.refusal(scope["method"], headers, query)
        if problem is not None:
            await _refuse(send, f"refused: {problem}")
            return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return wrapped


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"errors": [{"field": "", "message": message}]}).encode()
    headers = [(b"content-type", b"application/json"), *SECURITY_HEADERS]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Access control: who may open the pages and make offers.

On a loopback address only this machine can connect, so no token is needed unless one is given.
On any other address (--host 0.0.0.0, a LAN IP) a token is required: the one given with --token or
a random one printed at start. The page is opened once with ?token=...; the server then sets an
HttpOnly cookie so the page's own requests (script, styles, /offer) carry it without repeating it.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Awaitable, Callable

from aiohttp import web

COOKIE = "stylecast_token"
HEADER = "X-Stylecast-Token"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; False for 0.0.0.0, LAN addresses and other names."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """The token to require: the given one, a new random one for a non-loopback host, else None."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(16)


def token_middleware(token: str | None) -> Callable:
    """aiohttp middleware: 401 unless the request carries the token (query, header or cookie)."""

    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if token is None:
            return await handler(request)
        given = request.query.get("token") or request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(text="stylecast: this server needs its access token: open the URL "
                                            "printed at start (…/?token=...)\n")
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                                secure=request.secure)
        return response

    return check

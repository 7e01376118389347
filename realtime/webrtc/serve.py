"""`stylecast serve`: build the shared processor and captioner, then run the server until Ctrl-C."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from pathlib import Path

from aiohttp import web

from common.errors import UserError
from common.lifetime import children_die_with_me
from realtime.run import build_processor, start_captioning
from realtime.webrtc.auth import is_loopback, resolve_token
from realtime.webrtc.catalog import StyleCatalog
from realtime.webrtc.server import StreamServer, ssl_context


WILDCARDS = ("0.0.0.0", "::", "")


def machine_addresses(ipv6: bool = False) -> list[str]:
    """This machine's addresses other machines can use (not loopback, not link-local), best first.

    The address of the default route comes first: connecting a UDP socket sends nothing, it only
    asks the kernel which local address it would use."""
    import ipaddress
    import socket

    found: list[str] = []
    probes = [(socket.AF_INET, "192.0.2.1")] + ([(socket.AF_INET6, "2001:db8::1")] if ipv6 else [])
    for family, documentation_address in probes:  # RFC 5737 / 3849 addresses: never really contacted
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((documentation_address, 9))
                found.append(probe.getsockname()[0])
        except OSError:
            pass
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)
                  if info[0] == socket.AF_INET or ipv6]
    except OSError:
        pass
    usable = []
    for address in found:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified) and address not in usable:
            usable.append(address)
    return usable


def shown_hosts(host: str) -> list[str]:
    """The host names to print in URLs: a wildcard address is not one a browser can open."""
    if host in WILDCARDS:
        return machine_addresses(ipv6=host == "::")
    return [host]


def page_urls(host: str, port: int, token: str | None, https: bool) -> tuple[str, str]:
    """The camera page and the OBS viewer page on `host`, as the user should open them."""
    shown = "localhost" if host in WILDCARDS else host
    shown = f"[{shown}]" if ":" in shown else shown
    query = f"?token={token}" if token else ""
    base = f"{'https' if https else 'http'}://{shown}:{port}"
    return f"{base}/{query}", f"{base}/viewer{query}"


def check_port(port: int) -> None:
    """0 asks the system for a free port (printed at start); anything else must be a TCP port."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port} is not a TCP port (0-65535; 0 = any free port)")


def serve_command(args: argparse.Namespace) -> int:
    check_port(args.port)  # before the model loads
    context = ssl_context(args.cert, args.key)
    if args.styles_dir is not None and not Path(args.styles_dir).is_dir():
        raise UserError(f"--styles-dir {args.styles_dir} is not a folder")
    token = resolve_token(args.host, args.token)
    children_die_with_me()  # the captioner's helper process ends with the server, even after kill -9
    processor = build_processor(args)
    captioning = start_captioning(args, processor, None)
    server = StreamServer(processor, StyleCatalog(processor.stylizer.info, args.styles_dir), token, captioning)
    try:
        asyncio.run(_serve(server, args.host, args.port, context))
    except KeyboardInterrupt:
        pass
    finally:
        if captioning is not None:
            captioning.finish()
    return 0


async def _serve(server: StreamServer, host: str, port: int, context) -> None:
    runner = web.AppRunner(server.app(), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is already in use; pick another with --port") from None
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        bound_port = runner.addresses[0][1] if runner.addresses else port
        https = context is not None
        if not is_loopback(host):
            _say(f"listening on {host} (reachable from other machines): the token is required")
        hosts = shown_hosts(host)
        for shown in hosts:
            page, viewer = page_urls(shown, bound_port, server.token, https)
            _say(f"open {page}")
            _say(f"OBS Browser Source (stylized output only): {viewer}")
        if not hosts:
            page, _ = page_urls("THIS-MACHINE-ADDRESS", bound_port, server.token, https)
            _say(f"open {page} from another machine (no network address found here; `ip addr` shows them)")
        if host in WILDCARDS:
            _say(f"on this machine: {page_urls(host, bound_port, server.token, https)[0]}")
        _say("press Ctrl-C to stop")
        await _until_stopped()
        _say("stopping: closing the connections")
    finally:
        await runner.cleanup()  # on_shutdown closes every peer connection


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM (systemd, docker stop), so shutdown runs cleanly either way.

    Without this, SIGTERM would kill the process on the spot, skipping the peer and captioner
    cleanup and leaving the captioner's helper process behind.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows / not the main thread
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _say(message: str) -> None:
    print(f"stylecast: {message}", file=sys.stdout, flush=True)

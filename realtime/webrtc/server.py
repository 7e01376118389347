"""`stylecast serve`: the aiohttp + aiortc server behind the browser page.

Shaped like aiortc's examples/server: routes for the pages and their script, POST /offer answering
one RTCPeerConnection per page, peer connections kept in a table and closed on shutdown. The frame
transform is the shared FrameProcessor (via the one InferenceWorker), never a copy of it.

Controls (style, blend, strength, style on/off, the video's colours, captions) are one shared state: there
is one model, and every connected page sees (and can change) what it shows. Every change is echoed to all
pages. POST /style-image makes any picture the style (training/style_spec.py); it then joins the picker.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from common.errors import UserError, describe_os_error, first_line
from realtime.processor import FrameProcessor
from realtime.webrtc.auth import token_middleware
from realtime.webrtc.broadcast import Broadcast, ViewerTrack
from realtime.webrtc.catalog import StyleCatalog
from realtime.webrtc.messages import BadRequest, parse_control, parse_offer
from realtime.webrtc.track import StylizedTrack
from realtime.webrtc.worker import InferenceWorker, StyleSwitcher
from training.checkpoint import StyleInfo

STATIC = Path(__file__).parent / "static"
CLIENT_MAX_SIZE = 64 * 1024  # signalling bodies are a few KiB of SDP; anything bigger is refused (413)
CONNECT_TIMEOUT_S = 20.0  # a peer that never finishes ICE/DTLS is closed after this
MAX_PEERS = 16  # each peer costs a VP8 encoder and decoder thread; more would starve the model anyway
PAGES = {"/": "index.html", "/viewer": "viewer.html", "/client.js": "client.js", "/style.css": "style.css"}
REASON_CHARS = 160  # of aiortc's message in a 400: its errors can quote a whole line of the client's SDP
MAX_PICTURE_BYTES = 16_000_000  # POST /style-image: a phone photo is 2-8 MB; a style needs only ~1 MP of it

log = logging.getLogger(__name__)


def ice_configuration() -> RTCConfiguration:
    """Host candidates only: no STUN lookups, so it works offline, on localhost and on a LAN."""
    return RTCConfiguration(iceServers=[])


@dataclass
class Peer:
    """One page's connection and what the server attached to it."""

    id: int
    pc: RTCPeerConnection
    role: str
    track: StylizedTrack | ViewerTrack | None = None
    channel: RTCDataChannel | None = None
    watchdog: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task] = field(default_factory=set)


class StreamServer:
    """The shared processor and inference worker, and the table of open peer connections."""

    def __init__(self, processor: FrameProcessor, catalog: StyleCatalog, token: str | None = None,
                 captioning: Any = None):
        self.processor = processor
        self.catalog = catalog
        self.token = token
        self.captioning = captioning
        self.worker = InferenceWorker(processor)
        self.switcher = StyleSwitcher(processor)
        self.blend: dict[str, Any] | None = None  # the blend slider's last applied setting; None after a plain pick
        self.max_picture_bytes = MAX_PICTURE_BYTES
        self.broadcast = Broadcast()
        self.peers: dict[int, Peer] = {}
        self.max_peers = MAX_PEERS
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- app ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        # lingering_time 0: a body left unread (refused as too big, unauthorised, or undecodable) closes the
        # connection after the answer instead of being drained for up to 10 s; draining an undecodable one
        # also raised its error again, logged as a traceback (aio-libs/aiohttp#1710)
        app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=[token_middleware(self.token)],
                              handler_args={"lingering_time": 0})
        for route, filename in PAGES.items():
            app.router.add_get(route, self._static(filename))
        app.router.add_get("/styles", self.styles)
        app.router.add_get("/status", self.status)
        app.router.add_get("/styles/{name}/preview", self.preview)
        app.router.add_post("/offer", self.offer)
        app.router.add_post("/style-image", self.style_image)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    @staticmethod
    def _static(filename: str):
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(STATIC / filename, headers={"Cache-Control": "no-cache"})
        return handler

    async def _on_startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        source = getattr(self.captioning, "source", None)
        if source is not None:
            source.subscribe(self._caption_from_worker)

    # --- routes -------------------------------------------------------------------------------

    async def styles(self, request: web.Request) -> web.Response:
        return web.json_response({"styles": self.catalog.describe(), "state": self.state(),
                                  "max_picture_bytes": self.max_picture_bytes})

    async def status(self, request: web.Request) -> web.Response:
        """Open connections and the shared controls (monitoring; the tests watch pages come and go)."""
        roles = [peer.role for peer in self.peers.values()]
        return web.json_response({"peers": len(roles), "senders": roles.count("send"), "viewers": roles.count("view"),
                                  "frames": self.worker.frames, "backend": self.processor.stylizer.name,
                                  **self.state()})

    async def preview(self, request: web.Request) -> web.Response:
        jpeg = self.catalog.thumbnail(request.match_info["name"])
        if jpeg is None:
            raise web.HTTPNotFound(text="no preview for this style\n")
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def offer(self, request: web.Request) -> web.Response:
        """{"sdp", "type": "offer", "role"} -> the answer; 400 with a message for anything invalid."""
        try:
            body = await request.read()  # over CLIENT_MAX_SIZE (also once inflated): aiohttp answers 413
        except web.RequestPayloadError as exc:  # e.g. "Content-Encoding: gzip" on bytes that are not gzip
            raise web.HTTPBadRequest(text=f"the request body cannot be read: {short_reason(exc)}\n") from None
        try:
            offer = parse_offer(body)
        except BadRequest as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        if len(self.peers) >= self.max_peers:
            raise web.HTTPServiceUnavailable(text=f"the server already has {len(self.peers)} connections; try later\n")
        peer = Peer(id=next(self._ids), pc=RTCPeerConnection(ice_configuration()), role=offer.role)
        self.peers[peer.id] = peer
        self._wire(peer)
        try:
            await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            if peer.role == "view":
                peer.track = ViewerTrack(self.broadcast)
                peer.pc.addTrack(peer.track)
            elif peer.track is None:
                raise BadRequest("the offer's video could not be received (no usable video codec?)")
            await peer.pc.setLocalDescription(await peer.pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - aiortc's SDP parser raises anything (even RuntimeError)
            # for text it cannot use; it is the client's input, so it is a 400, never a 500 or a crash
            await self.close_peer(peer)
            raise web.HTTPBadRequest(text=f"unusable offer: {short_reason(exc)}\n") from None
        peer.watchdog = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_S, self._give_up_if_unconnected, peer)
        local = peer.pc.localDescription
        return web.json_response({"sdp": local.sdp, "type": local.type, "peer": peer.id})

    async def style_image(self, request: web.Request) -> web.Response:
        """A picture's bytes (Content-Type image/*) -> the style made from it, live for every page:
        {"style": name, "styles": the picker}. 400 with one line for anything that is not a usable picture
        (or when pictures cannot be styles here), 413 over max_picture_bytes. The stream keeps the old style
        until the new one is ready, and keeps it on any error."""
        if not request.content_type.startswith("image/"):
            raise web.HTTPUnsupportedMediaType(text="send the picture itself, with an image/* Content-Type\n")
        limit = self.max_picture_bytes
        too_big = f"the picture is larger than {limit / 1e6:g} MB: send a smaller one\n"
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(limit, request.content_length, text=too_big)
        data = bytearray()
        try:
            async for chunk in request.content.iter_chunked(1 << 16):  # as sent (chunked) or inflated: counted
                data += chunk
                if len(data) > limit:
                    raise web.HTTPRequestEntityTooLarge(limit, len(data), text=too_big)
        except web.RequestPayloadError as exc:
            raise web.HTTPBadRequest(text=f"the request body cannot be read: {short_reason(exc)}\n") from None
        if not data:
            raise web.HTTPBadRequest(text="the request holds no picture (an empty body)\n")
        try:
            picture = await asyncio.to_thread(save_picture, bytes(data))
            info = await self.switcher.switch(picture, droppable=False)
        except UserError as exc:
            raise web.HTTPBadRequest(text=f"{short_reason(exc)}\n") from None
        self.blend = None
        if self.catalog.add(info, description="your picture"):
            await asyncio.to_thread(self.catalog.thumbnail, info.name)  # the picture, scaled: not on the event loop
            for peer in list(self.peers.values()):
                self._send(peer.channel, {"type": "styles", "styles": self.catalog.describe()})
        self._send_state()
        return web.json_response({"style": info.name, "styles": self.catalog.describe()})

    # --- peers --------------------------------------------------------------------------------

    def _wire(self, peer: Peer) -> None:
        pc = peer.pc

        @pc.on("track")
        def on_track(track) -> None:
            if track.kind != "video" or peer.role != "send" or peer.track is not None:
                return  # audio (or a second video) is not used
            self.broadcast.add_sender(peer.id)
            peer.track = StylizedTrack(track, self.worker, input_id=peer.id,
                                       on_output=lambda image: self.broadcast.publish(peer.id, image))
            pc.addTrack(peer.track)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            peer.channel = channel
            channel.on("message", lambda raw: self._spawn(peer, self._on_control(peer, raw)))
            channel.on("close", lambda: self._spawn(peer, self.close_peer(peer)))  # the page went away
            self._send(channel, {"type": "state", **self.state()})

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close_peer(peer)

    def _spawn(self, peer: Peer, coro) -> None:
        task = asyncio.ensure_future(coro)
        peer.tasks.add(task)
        task.add_done_callback(peer.tasks.discard)

    def _give_up_if_unconnected(self, peer: Peer) -> None:
        if peer.pc.connectionState != "connected":
            asyncio.ensure_future(self.close_peer(peer))

    async def close_peer(self, peer: Peer) -> None:
        """Free everything a peer holds; safe to call more than once."""
        if self.peers.pop(peer.id, None) is None:
            return
        if peer.watchdog is not None:
            peer.watchdog.cancel()
        self.broadcast.remove_sender(peer.id)
        if peer.track is not None:
            peer.track.stop()
            self.worker.forget(peer.id)
        try:
            await peer.pc.close()
        except Exception as exc:  # noqa: BLE001 - aiortc cannot close a connection an offer left half built;
            # what it built is garbage-collected, and a refused offer must stay a 400 (never a 500 or a crash)
            log.warning("peer %d: could not close its connection cleanly (%s)", peer.id, short_reason(exc))

    async def on_shutdown(self, app: web.Application | None = None) -> None:
        await asyncio.gather(*(self.close_peer(peer) for peer in list(self.peers.values())))
        self.worker.close()
        self.switcher.close()
        self.processor.close()

    # --- data channel -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What every page shows in its controls."""
        p = self.processor
        return {"style": p.style_name, "blend": self.blend, "strength": p.strength, "style_enabled": p.style_enabled,
                "keep_colours": p.keep_colours, "apply": p.apply, "captions": p.captions_enabled,
                "captions_available": p.captions is not None and p.renderer is not None}

    async def _on_control(self, peer: Peer, raw: str | bytes) -> None:
        try:
            message = parse_control(raw)
            if message["type"] == "ping":
                self._send(peer.channel, {**message, "type": "pong", "server": self.peer_stats(peer)})
                return
            if not await self._apply(message):
                return  # a newer style switch made this one moot: that one answers
        except (BadRequest, UserError) as exc:
            self._send(peer.channel, {"type": "error", "message": str(exc)})
            return
        self._send_state()

    def _send_state(self) -> None:
        for peer in list(self.peers.values()):
            self._send(peer.channel, {"type": "state", **self.state()})

    def _catalog_style(self, name: str) -> StyleInfo:
        info = self.catalog.get(name)
        if info is None:
            raise BadRequest(f"unknown style '{name[:60]}'")
        return info

    async def _apply(self, message: dict[str, Any]) -> bool:
        """Apply one control message; False when it was a style switch dropped for a newer one."""
        kind = message["type"]
        if kind == "style":
            if await self.switcher.switch(self._catalog_style(message["name"]).weights_path) is None:
                return False
            self.blend = None
        elif kind == "blend":
            if await self.switcher.switch(self.blend_spec(message)) is None:
                return False
            self.blend = {key: message[key] for key in ("a", "b", "value")}
        elif kind == "keep_colours":
            self.processor.keep_colours = message["value"]
        elif kind == "apply":  # the first time loads the segmentation model: off the event loop
            await asyncio.to_thread(self.processor.set_apply, message["value"])
        elif kind == "strength":
            self.processor.set_strength(message["value"])
        elif kind == "style_enabled":
            self.processor.style_enabled = message["value"]
        elif kind == "captions":
            if message["value"] and not self.state()["captions_available"]:
                raise BadRequest("captions are not available on this server (started without a captioner)")
            self.processor.captions_enabled = message["value"]
        return True

    def blend_spec(self, message: dict[str, Any]) -> str | Path:
        """A blend message -> what to switch to: 'A:1-v,B:v', or at either end (or A = B) that style itself."""
        a, b = self._catalog_style(message["a"]), self._catalog_style(message["b"])
        value = message["value"]
        if value == 0.0 or a.name == b.name:
            return a.weights_path
        if value == 1.0:
            return b.weights_path
        items = []
        for info in (a, b):
            item = self.catalog.blend_item(info.name)
            if item is None:
                raise BadRequest(f"'{info.name}' cannot be blended: a blend mixes the pictures styles were made "
                                 "from (shipped styles and your pictures have one)")
            items.append(item)
        return f"{items[0]}:{1 - value:g},{items[1]}:{value:g}"

    def peer_stats(self, peer: Peer) -> dict[str, Any]:
        stats: dict[str, Any] = {"peers": len(self.peers), "stylize_ms": round(self.worker.last_stylize_ms, 1)}
        if isinstance(peer.track, StylizedTrack):
            stats.update(received=peer.track.received, dropped=peer.track.dropped, errors=peer.track.errors,
                         delay_ms=round(peer.track.last_delay_ms, 1))
        return stats

    def _caption_from_worker(self, caption: Any) -> None:
        """Called on the captioner's thread: hand the caption to the event loop (if it still runs)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._send_caption, caption)
        except RuntimeError:  # the loop closed between the check and the call: shutting down
            pass

    def _send_caption(self, caption: Any) -> None:
        if not self.processor.captions_enabled:
            return
        message = {"type": "caption", "text": caption.text, "start": caption.start,
                   "duration": caption.duration, "lang": caption.lang}
        for peer in list(self.peers.values()):
            self._send(peer.channel, message)

    @staticmethod
    def _send(channel: RTCDataChannel | None, message: dict[str, Any]) -> None:
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))


def short_reason(exc: BaseException) -> str:
    """An exception as one short printable line for a response or the log (never the client's text at length)."""
    return first_line(exc, REASON_CHARS).encode("ascii", "backslashreplace").decode("ascii")


def save_picture(data: bytes) -> Path:
    """Uploaded bytes -> a PNG of the picture in the private uploads folder, named by the bytes' SHA-256 (never by
    anything the client says), or UserError (one line) for what is not a usable picture. What is kept is the
    decoded picture (at most style_spec.CODE_SIDE px long), never the client's bytes."""
    from PIL import Image

    from export.cache import cache_dir, prune, used, write_atomically
    from training.style_spec import read_picture

    try:
        folder = cache_dir("uploads")
        os.chmod(folder, 0o700)  # other users of this machine do not see what was uploaded
        path = folder / f"upload_{hashlib.sha256(data).hexdigest()[:20]}.png"
        if path.is_file():
            used(path)
        else:
            picture = read_picture(data, "the uploaded file")
            write_atomically(path, lambda tmp: Image.fromarray(picture).save(tmp, format="PNG"))
            prune("uploads")
    except OSError as exc:  # a full or read-only cache: the page hears one line, the stream keeps its style
        raise UserError(f"cannot keep the uploaded picture: {describe_os_error(exc)}") from None
    return path


def ssl_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """HTTPS from --cert/--key (browsers allow the camera only on https:// or localhost)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UserError("--cert and --key go together (a PEM certificate and its private key)")
    for path in (cert, key):
        if not Path(path).is_file():
            raise UserError(f"file not found: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, ValueError) as exc:
        raise UserError(f"cannot use {cert} / {key} as a certificate and key ({exc})") from None
    return context

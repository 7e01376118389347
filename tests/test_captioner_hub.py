"""`stylecast models pull` against a local server that speaks the hub's HTTP layout (HF_ENDPOINT), serving a
tiny random BLIP model; then that model narrates through the full path (CaptionService), timed."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from test_captioner_models import tiny_blip  # noqa: F401 - the fixture

from realtime.captioner.models import ModelNarrator, TransformersCaptioner
from realtime.captioner.service import CaptionService
from realtime.frames import Frame

REPO = Path(__file__).resolve().parents[1]
MODEL_ID, COMMIT = "tiny/blip-random", "0123456789abcdef0123456789abcdef01234567"


def hub_server(folder: Path) -> tuple[ThreadingHTTPServer, list[str]]:
    """Serves `folder` as model MODEL_ID: /api/models/... (info) and /<repo>/resolve/<rev>/<file> (files)."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    seen: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: bytes, kind: str, extra: dict[str, str] | None = None, head: bool = False) -> None:
            self.send_response(200)
            for key, value in {"Content-Type": kind, "Content-Length": str(len(body)), **(extra or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?")[0]
            seen.append(f"{self.command} {path}")
            if path.startswith(f"/api/models/{MODEL_ID}/tree/"):
                tree = [{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                        for n, b in files.items()]
                return self._send(json.dumps(tree).encode(), "application/json", head=head)
            if path.startswith(f"/api/models/{MODEL_ID}"):
                info = {"id": MODEL_ID, "modelId": MODEL_ID, "sha": COMMIT, "tags": ["license:apache-2.0"],
                        "cardData": {"license": "apache-2.0"}, "private": False,
                        "siblings": [{"rfilename": n, "size": len(b)} for n, b in files.items()]}
                return self._send(json.dumps(info).encode(), "application/json", head=head)
            prefix = f"/{MODEL_ID}/resolve/"
            if path.startswith(prefix):
                name = path[len(prefix):].split("/", 1)[1]
                if name in files:
                    body = files[name]
                    etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                    return self._send(body, "application/octet-stream", {"ETag": etag, "X-Repo-Commit": COMMIT}, head)
            self.send_error(404)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_models_pull_prints_size_and_licence_then_downloads(tiny_blip: Path, tmp_path: Path) -> None:  # noqa: F811
    server, seen = hub_server(tiny_blip)
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HOME=str(tmp_path / "hf"),
               HF_HUB_DISABLE_XET="1")
    try:
        result = subprocess.run([sys.executable, str(REPO / "stream.py"), "models", "pull", MODEL_ID],
                                capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr + "\n".join(seen)
    size = sum(p.stat().st_size for p in tiny_blip.rglob("*") if p.is_file())
    first = result.stdout.splitlines()[0]
    assert first == f"{MODEL_ID}: {size / 1e6:.1f} MB in {len(list(p for p in tiny_blip.rglob('*') if p.is_file()))} " \
                    "files, licence: apache-2.0"
    folder = Path(result.stdout.split("saved in ")[1].splitlines()[0])
    assert folder.is_relative_to(tmp_path / "hf") and (folder / "config.json").is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in tiny_blip.iterdir())

    # the pulled model through the full path: CaptionService -> ModelNarrator -> TransformersCaptioner
    service = CaptionService(ModelNarrator(TransformersCaptioner(folder, max_new_tokens=8), "en", seed=1),
                             every_s=1.0, in_step=True)
    started = time.perf_counter()
    try:
        for i in range(3):
            service.offer(Frame(skimage.data.astronaut(), float(i), time.monotonic(), i), "mosaic")
        assert service.wait_seen(2.0, timeout=240)  # every frame narrated (the limit only catches a hang)
    finally:
        service.close()
    per_line = (time.perf_counter() - started) / max(1, len(service.captions))
    print(f"tiny model, full path: {per_line * 1000:.0f} ms per line")
    assert len(service.captions) == 3 and all(c.text for c in service.captions)  # (the time is for the log only:
    # how fast a line comes is the machine's business, bench/ measures it)


def test_models_pull_refuses_unknown_names() -> None:
    result = subprocess.run([sys.executable, str(REPO / "stream.py"), "models", "pull", "no-such-model"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2 and "unknown model 'no-such-model'" in result.stderr

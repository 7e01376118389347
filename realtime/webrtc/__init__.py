"""Browser streaming: the page's camera over WebRTC, through the shared FrameProcessor, and back.

server.py (aiohttp routes, peer connections) -> track.py (per-peer video track) -> worker.py (the one
inference thread) -> realtime.processor.FrameProcessor. broadcast.py feeds recvonly viewer pages.
"""

"""Shipped style checkpoints (`NAME.safetensors` + `NAME.json` + `NAME.jpg` preview).

This folder is a package only so that the checkpoints install with the wheel.
"""
from pathlib import Path

STYLES_DIR = Path(__file__).resolve().parent
DEFAULT_STYLE = "mosaic"  # what run/serve/export use without --style

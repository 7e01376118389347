"""The live path: sources -> pipeline (stylize, overlay) -> sinks, plus the captioner and WebRTC."""

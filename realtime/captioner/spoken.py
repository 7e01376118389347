"""Turn a formal caption ("a man sitting at a desk with a laptop") into a spoken line
("Looks like a guy sitting at a desk with a laptop!"): rule-based, English and Chinese."""
from __future__ import annotations

import random
import re

EN_PREFIXES = r"^(arafed |araffe |there is |there are |this is |an? (image|picture|photo|photograph|close up) of |" \
              r"the (image|picture|photo) (shows|depicts) )+"
EN_WORDS = {r"\ba man\b": "a guy", r"\bmen\b": "guys", r"\bthere is\b": "there's", r"\bit is\b": "it's",
            r"\bthat is\b": "that's", r"\bphotograph\b": "photo", r"\bindividuals?\b": "folks"}
EN_OPENERS = ["Looks like {x}!", "Oh, I see {x}.", "So here we've got {x}.", "Pretty sure that's {x}.",
              "Ooh, {x}!", "Check it out, {x}."]
ZH_PREFIXES = r"^(这张(图片|照片|图)(中|里)?(显示了|展示了|是|有)?|图片(中|里)?(显示了|展示了|有)?|画面(中|里)?(显示了|是)?|这是)"
ZH_OPENERS = ["看起来是{x}！", "我看到{x}。", "哇，{x}呢。", "这儿有{x}哦。", "你看，{x}。"]


class SpokenStyle:
    """Rewrites captions in a chatty voice, never the same opener twice in a row."""

    def __init__(self, lang: str = "en", seed: int | None = None):
        self.lang = lang
        self.random = random.Random(seed)
        self._last_opener = ""

    def __call__(self, caption: str) -> str:
        text = " ".join(caption.strip().split())
        if not text:
            return ""
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
        if chinese:
            body = re.sub(ZH_PREFIXES, "", text).strip("。.！!，, ")
            openers = ZH_OPENERS
        else:
            body = re.sub(EN_PREFIXES, "", text.lower()).strip(" .!,")
            for pattern, replacement in EN_WORDS.items():
                body = re.sub(pattern, replacement, body)
            openers = ZH_OPENERS if self.lang == "zh" else EN_OPENERS
        if not body:
            return ""
        choices = [o for o in openers if o != self._last_opener] or openers
        self._last_opener = self.random.choice(choices)
        line = self._last_opener.format(x=body)
        return line[:1].upper() + line[1:]

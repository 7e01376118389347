"""Spoken-style sentence pieces, English and Chinese, several ways to say each measured fact.

Rules the tests hold us to: only the subject lists (faces, smiles, bodies, cats) mention people or
animals, so a frame without them can never be described as having them.
"""
from __future__ import annotations

PHRASES: dict[str, dict[str, list[str]]] = {
    "en": {
        "scene_change": ["Oh, new scene!", "Okay, something just changed.", "Whoa, different view now.",
                         "And now for something new."],
        "face_one": ["There's someone {where}, hi there!", "I can see a face {where}.",
                     "Somebody's right there {where}.", "Hey, a person {where}!"],
        "face_many": ["I count {n} faces, {wheres}.", "{N} people in the shot: {wheres}.",
                      "Looks like {n} folks hanging out here, {wheres}.", "{N} faces! {Wheres}."],
        "smile_one": ["And that's a lovely smile!", "Someone's smiling, love it.", "Big smile there!"],
        "smile_many": ["{N} smiles, how nice!", "Everybody's smiling, love that.", "So many smiles!"],
        "body": ["Someone's standing {where}.", "I can make out a person {where}.",
                 "There's a person {where}, from the shoulders down."],
        "cat_one": ["Aw, there's a cat {where}!", "Look, a kitty {where}!", "A cat {where}, too cute.",
                    "Is that a cat {where}? Adorable."],
        "cat_many": ["{N} cats! Cuteness overload.", "Look at those {n} kitties!"],
        "busy": ["Lots of movement going on.", "Things are moving fast!", "Pretty busy, everything's moving.",
                 "Wow, so much action right now."],
        "moving": ["A little bit of movement.", "Something's moving a bit.", "There's some gentle motion."],
        "still": ["Everything's nice and still.", "Very calm, hardly anything moves.", "Not much moving right now.",
                  "Quiet and steady."],
        "dark": ["It's pretty dark in here.", "Kinda dim, hard to see much.", "Lights are low, very moody and dark.",
                 "Pretty dark, huh?"],
        "bright": ["Wow, it's really bright.", "Super bright and clear.", "Lots of light in this one.",
                   "Nice and bright!"],
        "warm": ["Warm colours all over, mostly {colours}.", "Nice warm tones, lots of {colours}.",
                 "Such a warm feel, {colours} everywhere."],
        "cool": ["Cool tones, mostly {colours}.", "A cool, calm palette: {colours}.",
                 "Kind of a cool feel, lots of {colours}."],
        "colours": ["Lots of {colours} here.", "I'm seeing mostly {colours}.", "Colour-wise it's {colours}."],
        "grey": ["Pretty muted colours.", "The colours are quite washed out.", "Very soft, greyish colours."],
        "style": ["All in the {style} style.", "The {style} look suits it.", "{Style} style on top, looks neat.",
                  "Loving the {style} vibe."],
    },
    "zh": {
        "scene_change": ["哎，换场景了！", "咦，画面变了。", "哇，换了个地方。", "来看看新画面。"],
        "face_one": ["{where}有个人，你好呀！", "我看到{where}有一张脸。", "{where}有个人在呢。", "嘿，{where}有人！"],
        "face_many": ["画面里有{n}个人，{wheres}。", "我数了一下，有{n}张脸，{wheres}。", "{n}个人一起出镜，挺热闹的。"],
        "smile_one": ["而且笑得挺开心的！", "有人在笑呢，真好。", "笑容好灿烂！"],
        "smile_many": ["{n}个人都在笑，真好！", "大家都笑得好开心。"],
        "body": ["{where}好像站着一个人。", "{where}能看到一个人。", "{where}有个人的身影。"],
        "cat_one": ["哇，{where}有只猫！", "快看，{where}有只小猫咪！", "{where}那只猫好可爱。", "{where}是只猫吧？好萌。"],
        "cat_many": ["{n}只猫！可爱爆了。", "快看这{n}只小猫咪！"],
        "busy": ["动作好多，挺热闹的。", "画面动得很厉害。", "好多东西在动。", "哇，动静好大。"],
        "moving": ["有一点点动静。", "稍微有些动作。", "画面在轻轻地动。"],
        "still": ["画面很安静，几乎不动。", "挺平静的，没什么动静。", "一切都静悄悄的。", "稳稳的，不怎么动。"],
        "dark": ["光线挺暗的。", "有点暗，看不太清。", "灯光很暗，氛围感拉满。", "好暗啊。"],
        "bright": ["哇，好亮啊。", "光线特别足。", "亮堂堂的。", "画面挺明亮的。"],
        "warm": ["整体是暖色调，{colours}挺多。", "暖暖的色调，主要是{colours}。", "色调好温暖，{colours}为主。"],
        "cool": ["偏冷色调，{colours}比较多。", "冷冷的色调，主要是{colours}。", "冷色系，{colours}为主。"],
        "colours": ["{colours}挺多的。", "主要是{colours}。", "颜色上是{colours}。"],
        "grey": ["颜色比较素。", "色彩挺淡的。", "颜色灰灰的，很低调。"],
        "style": ["现在是{style}风格。", "{style}风格，挺好看的。", "加了{style}的效果，不错吧？", "{style}风格很有味道。"],
    },
}

WHERE = {
    "en": {"left": "on the left", "right": "on the right", "centre": "in the middle"},
    "zh": {"left": "左边", "right": "右边", "centre": "中间"},
}
COLOUR_NAMES = {
    "en": {},
    "zh": {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色", "teal": "青色", "blue": "蓝色",
           "purple": "紫色", "pink": "粉色"},
}
ZH_NUMBERS = ["零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十"]
EN_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def number(n: int, lang: str) -> str:
    """A small count the way it is said: 'two', '两'."""
    words = ZH_NUMBERS if lang == "zh" else EN_NUMBERS
    return words[n] if n < len(words) else str(n)


def join(items: list[str], lang: str) -> str:
    """'a and b' / 'a, b and c'; '甲和乙' / '甲、乙和丙'."""
    if len(items) <= 1:
        return "".join(items)
    comma, last = ("、", "和") if lang == "zh" else (", ", " and ")
    return comma.join(items[:-1]) + last + items[-1]

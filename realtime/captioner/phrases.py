"""Spoken-style sentence pieces, English and Chinese, several ways to say each measured fact.

Rules the tests and bench/narration.py hold us to: only the face/people keys mention people (hand keys talk
about the hand, which may be all that is in the shot), and a template claims exactly what its key says (a 'still' line never sounds like movement, and so on).
Keys ending in _at take a {where}; the narrator uses the plain key when the position is not clear.
"""
from __future__ import annotations

PHRASES: dict[str, dict[str, list[str]]] = {
    "en": {
        "scene_change": ["Oh, new scene!", "Okay, something just changed.", "Whoa, different view now.",
                         "And now for something new.", "Now this!", "And cut!"],
        "next_photo": ["Next photo!", "Here's another one.", "Ooh, next picture.", "And another photo.",
                       "Next one!"],
        "face_one_at": ["There's someone {where}, hi there!", "I can see a face {where}.",
                        "Somebody's right there {where}.", "Hey, a person {where}!"],
        "face_one": ["There's someone here, hi there!", "Oh hey, I see a face.", "Somebody's in the shot.",
                     "Hey, a person!"],
        "face_many": ["I count {n} faces.", "{N} people in the shot.", "Looks like {n} folks hanging out here.",
                      "{N} faces!"],
        "joined": ["Oh, someone just joined!", "Hey, one more person now.", "Look who showed up!"],
        "left_some": ["Someone just stepped out.", "One person fewer now.", "Somebody left the shot."],
        "gone": ["And they're gone.", "Whoops, nobody there now.", "Empty again."],
        "moved_at": ["Oh, they moved over {where}.", "Now they're {where}.", "Shifted over {where}, I see."],
        "still_here_at": ["Someone's still {where}.", "Still somebody {where}.", "There's still a face {where}.",
                          "Someone's hanging out {where}.", "Still a person {where}."],
        "still_here": ["Someone's still here.", "Still somebody in the shot.", "There's still a face here.",
                       "Someone's hanging out here.", "Still a person in the shot."],
        "close": ["Nice close-up!", "Up close and personal.", "Right up to the camera!"],
        "far": ["Pretty far from the camera, though.", "A bit far away.", "Kinda far off in the shot."],
        "smile_one": ["And that's a lovely smile!", "Someone's smiling, love it.", "Big smile there!"],
        "smile_many": ["{N} smiles, how nice!", "Everybody's smiling, love that.", "So many smiles!"],
        "facing_camera": ["Facing the camera, nice.", "Facing us head-on!", "Face to the camera!"],
        "facing_away": ["Head turned to the side.", "Turned away for a sec.", "Not facing the camera right now."],
        "wave": ["And a wave, hello back!", "Waving at us, hi!", "Oh, a little wave, how sweet!"],
        "thumbs_up": ["Thumbs up, love it!", "A big thumbs up there!", "Thumbs up, nice!"],
        "pointing": ["Pointing at something, what is it?", "Ooh, pointing over there.", "A finger pointing the way."],
        "hand_up": ["A hand up in the air!", "Hand raised, hi there!", "Up goes a hand!"],
        "open_hand": ["I see an open hand.", "A hand, all five fingers out.", "There's a hand right there."],
        "camera_moving": ["The camera's on the move.", "Camera's moving around.", "The view keeps shifting."],
        "sky": ["Nice blue sky up there.", "Look at that blue sky!", "Clear blue sky, lovely."],
        "moving": ["Things are moving around.", "A bit of movement here and there.", "Stuff's on the move.",
                   "Some movement going on."],
        "busy": ["Lots of movement going on.", "Things are moving fast!", "Pretty busy, everything's moving.",
                 "Wow, so much action right now."],
        "still": ["Everything's nice and still.", "Very calm, hardly anything moves.", "Not much moving right now.",
                  "Quiet and steady."],
        "dark": ["It's pretty dark in here.", "Kinda dim, hard to see much.", "Lights are low, very moody and dark.",
                 "Pretty dark, huh?"],
        "bright": ["Wow, it's really bright.", "Super bright and clear.", "Lots of light in this one.",
                   "Nice and bright!"],
        "colour": ["So much {colour}!", "That {colour} really pops.", "Wow, {colour} everywhere.",
                   "Lots of {colour} in this one."],
        "monochrome": ["All in black and white.", "Old-school black and white.", "No colour at all, just greys."],
        "style": ["All in the {style} style.", "The {style} look suits it.", "{Style} style on top, looks neat.",
                  "Loving the {style} vibe."],
        "nothing": ["Hmm, nothing much to say about this one.", "Just taking it in.", "Not much to point out here."],
    },
    "zh": {
        "scene_change": ["哎，换场景了！", "咦，画面变了。", "哇，换了个地方。", "来看看新画面。", "镜头一转！"],
        "next_photo": ["下一张！", "再来一张。", "看看这张。", "又一张照片。", "换一张看看。"],
        "face_one_at": ["{where}有个人，你好呀！", "我看到{where}有一张脸。", "{where}有个人在呢。", "嘿，{where}有人！"],
        "face_one": ["有个人在呢，你好呀！", "嘿，我看到一张脸。", "画面里有个人。", "哟，有人！"],
        "face_many": ["画面里有{n}个人。", "我数了一下，{n}个人。", "{n}个人一起出镜，挺热闹的。"],
        "joined": ["哎，又来了一个人！", "多了一个人哦。", "看，有人加入了！"],
        "left_some": ["有人走开了。", "少了一个人。", "有个人出画了。"],
        "gone": ["咦，都走了。", "现在空了。", "没影了。"],
        "moved_at": ["哦，挪到{where}去了。", "现在跑到{where}了。", "换到{where}了。"],
        "still_here_at": ["那个人还在{where}呢。", "{where}的人一直都在。", "人还在{where}。", "{where}还有个人呢。",
                          "人一直在{where}。"],
        "still_here": ["人还在呢。", "那个人一直都在镜头里。", "人还在画面里哦。", "还有个人在呢。", "人一直在这儿。"],
        "close": ["好近的特写！", "凑得好近呀。", "离镜头超近的。"],
        "far": ["不过离镜头挺远的。", "站得有点远。", "离得挺远的。"],
        "smile_one": ["而且笑得挺开心的！", "有人在笑呢，真好。", "笑容好灿烂！"],
        "smile_many": ["{n}个人都在笑，真好！", "大家都笑得好开心。"],
        "facing_camera": ["正对着镜头呢。", "脸朝着镜头。", "面向镜头哦。"],
        "facing_away": ["头转到一边了。", "侧着脸呢。", "没有正对镜头。"],
        "wave": ["在挥手呢，你好！", "挥挥手，打招呼呢！", "哇，在招手，嗨！"],
        "thumbs_up": ["点了个赞！", "竖起大拇指，棒！", "比了个赞呢。"],
        "pointing": ["在指着什么呢？", "伸手指了一下那边。", "手指着那边呢。"],
        "hand_up": ["举起手来了！", "有只手举得高高的。", "手举起来了，嗨！"],
        "open_hand": ["我看到一只张开的手。", "一只手，五指张开。", "这里有只手。"],
        "camera_moving": ["镜头在移动。", "镜头慢慢扫过去。", "视角在变呢。"],
        "sky": ["天好蓝啊。", "蓝天真漂亮。", "头顶一片蓝天。"],
        "moving": ["有东西在动。", "画面里有点动静。", "能看到些移动。", "有些东西在移动。"],
        "busy": ["动作好多，挺热闹的。", "画面动得很厉害。", "好多东西在动。", "哇，动静好大。"],
        "still": ["画面很安静，几乎不动。", "挺平静的，没什么动静。", "一切都静悄悄的。", "稳稳的，不怎么动。"],
        "dark": ["光线挺暗的。", "有点暗，看不太清。", "灯光很暗，氛围感拉满。", "好暗啊。"],
        "bright": ["哇，好亮啊。", "光线特别足。", "亮堂堂的。", "画面挺明亮的。"],
        "colour": ["好多{colour}啊！", "这个{colour}好抢眼。", "满眼都是{colour}。", "{colour}好多呀。"],
        "monochrome": ["黑白的，挺有味道。", "是张黑白画面。", "没有颜色，全是灰调。"],
        "style": ["现在是{style}风格。", "{style}风格，挺好看的。", "加了{style}的效果，不错吧？", "{style}风格很有味道。"],
        "nothing": ["嗯，这张没什么特别的。", "先静静看一会儿。", "这张挺朴素的。"],
    },
}

WHERE = {
    "en": {"left": "on the left", "right": "on the right", "centre": "in the middle"},
    "zh": {"left": "左边", "right": "右边", "centre": "中间"},
}
# how a shipped style is called in a line (other styles: their name, underscores as spaces)
STYLE_NAMES = {
    "en": {},
    "zh": {"mosaic": "马赛克", "swirl": "漩涡", "ink": "水墨", "popart": "波普", "scream": "呐喊", "starry_night": "星空"},
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

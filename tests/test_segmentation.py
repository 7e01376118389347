"""--apply background|person: MediaPipe's selfie model on real photos, the mask's edges and steadiness, the
composite (the untouched part is the input pixel for pixel), and the option end to end on a decoded recording."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from clips import decode, photo_clip
from test_run import stylecast

import stream
from common.errors import UserError
from realtime import segmentation
from realtime.captioner import litert
from realtime.controls import LiveControls
from realtime.processor import FrameProcessor
from realtime.segmentation import PersonMasker, auto_every, composite, guided_upsample, smooth
from realtime.webrtc.messages import BadRequest, parse_control

REPO = Path(__file__).resolve().parents[1]
W, H = 320, 240
FACE = (slice(15, 65), slice(120, 165))  # (rows, columns) of the astronaut's face in astronaut_frame()
WALL = (slice(0, 40), slice(280, 320))  # the grey wall right of the shuttle model: no person


def astronaut_frame() -> np.ndarray:
    """skimage's astronaut (Eileen Collins, NASA, public domain), framed like a webcam: 320x240, head and torso."""
    return cv2.resize(skimage.data.astronaut(), (W, W))[40:40 + H]


def empty_room() -> np.ndarray:
    """A frame with nobody in it: skimage's rocket photo, 320x240."""
    return cv2.resize(skimage.data.rocket(), (W, H))


def test_the_shipped_model_runs_mediapipes_own_op_and_finds_a_person_in_a_real_photo() -> None:
    for frame_hw, model_hw in (((180, 320), (144, 256)), ((H, W), (256, 256))):  # 16:9 and 4:3 frames
        model = segmentation.selfie_model(frame_hw)
        ops = {op["op_name"] for op in model._interpreter._get_ops_details()}
        assert "Convolution2DTransposeBias" in ops  # MediaPipe's custom op: ai-edge-litert runs it as it ships
        probability = model(cv2.resize(astronaut_frame(), frame_hw[::-1]))
        assert probability.shape == model_hw and probability[:model_hw[0] // 4].max() > 0.9  # a head up there
    mask = PersonMasker()(astronaut_frame())
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert mask[FACE].mean() > 0.95 and mask[WALL].max() == 0.0
    assert 0.3 < mask.mean() < 0.7  # a person filling the middle of a webcam frame


def test_an_upright_frame_uses_the_square_model() -> None:
    upright = cv2.resize(skimage.data.astronaut(), (240, 320))
    assert segmentation.model_file(upright.shape[:2]) == segmentation.SQUARE_MODEL
    mask = PersonMasker()(upright)
    assert mask.shape == (320, 240) and mask[50:110, 95:125].mean() > 0.95  # the face


def test_person_mode_keeps_everything_outside_the_mask_exactly_and_styles_inside() -> None:
    original = astronaut_frame()
    styled = 255 - original
    mask = np.zeros((H, W), np.float32)
    mask[:, 100:200] = 1.0
    mask[:, 95:100] = np.linspace(0, 1, 5, dtype=np.float32)  # a feather band
    person = composite(original, styled, mask, "person")
    assert np.array_equal(person[:, :95], original[:, :95]) and np.array_equal(person[:, 200:], original[:, 200:])
    assert np.array_equal(person[:, 100:200], styled[:, 100:200])
    background = composite(original, styled, mask, "background")
    assert np.array_equal(background[:, 100:200], original[:, 100:200])
    assert np.array_equal(background[:, 200:], styled[:, 200:])
    ramp, ends = person[:, 95:100].astype(int), (original[:, 95:100].astype(int), styled[:, 95:100].astype(int))
    assert np.all((ramp >= np.minimum(*ends) - 1) & (ramp <= np.maximum(*ends) + 1))  # the feather blends between
    assert composite(original, styled, mask, "all") is styled


def test_smoothing_steadies_an_uncertain_outline_but_follows_a_sure_change_at_once() -> None:
    previous = np.array([[0.9, 0.0, 1.0]], np.float32)
    new = np.array([[0.5, 1.0, 0.0]], np.float32)  # unsure; sure someone arrived; sure they left
    mixed = smooth(previous, new)
    assert abs(mixed[0, 0] - (0.5 + 0.4 * segmentation.PREVIOUS_RATIO)) < 1e-4  # p = 0.5: leans on the past
    assert mixed[0, 1] > 0.999 and mixed[0, 2] < 0.001  # no lag trail behind someone who moves
    assert smooth(None, new) is new


def test_the_upsampled_edge_follows_the_frames_edge_not_the_blocky_low_res_mask() -> None:
    """A person-shaped bright region ending at x = 203 of 320, a model mask that only knows it to 1/4 px."""
    frame = np.full((H, W, 3), 40, np.uint8)
    frame[:, :203] = 200
    low = np.zeros((60, 80), np.float32)
    low[:, :50] = 1.0  # its edge at x = 200 full-size, blocky
    low[:, 50] = 0.5
    mask = guided_upsample(low, frame)
    row = mask[H // 2]
    assert row[:198].min() == 1.0 and row[208:].max() == 0.0
    edge = int(np.argmax(row < 0.5))
    assert abs(edge - 203) <= 1  # where the picture's edge is, within a pixel


def test_mask_every_n_holds_the_models_answer_in_between(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    model = segmentation.selfie_model((H, W))
    predict = model.predict
    monkeypatch.setattr(model, "predict", lambda small: calls.append(small.shape) or predict(small))
    masker = PersonMasker(every=3)
    for _ in range(7):
        masker(astronaut_frame())
    assert len(calls) == 3  # frames 0, 3, 6
    assert auto_every(0.006, 0.080) == 1  # 6 ms of an 80 ms frame: every frame
    assert auto_every(0.030, 0.080) == 2 and auto_every(1.0, 0.080) == segmentation.MAX_EVERY
    with pytest.raises(UserError):
        PersonMasker(every=0)


@pytest.mark.parametrize("shape", [(1, 640, 3), (2, 2, 3), (17, 31, 3), (481, 641, 3)])
def test_odd_frame_sizes_give_a_mask_of_their_size(shape) -> None:
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    mask = PersonMasker()(frame)
    assert mask.shape == shape[:2] and np.isfinite(mask).all() and 0 <= mask.min() <= mask.max() <= 1


def test_nobody_in_view_styles_all_in_background_mode_and_nothing_in_person_mode() -> None:
    room = empty_room()
    masker = PersonMasker()
    for _ in range(5):  # steady over frames, not only on the first
        mask = masker(room)
        assert mask.max() == 0.0
    styled = 255 - room
    assert np.array_equal(composite(room, styled, mask, "person"), room)
    assert np.array_equal(composite(room, styled, mask, "background"), styled)


def test_preview_key_a_cycles_what_is_styled(tiny_style: Path) -> None:
    from export.backends import create_stylizer

    processor = FrameProcessor(create_stylizer(tiny_style, "pytorch-cpu"))
    controls = LiveControls(processor, [str(tiny_style)])
    said = [controls.handle_key(ord("a")) for _ in range(3)]
    assert said == ["styling the background only", "styling the person only", "styling the whole frame"]
    assert processor.apply == "all"


def test_the_page_message_is_checked() -> None:
    assert parse_control('{"type": "apply", "value": "person"}') == {"type": "apply", "value": "person"}
    for bad in ('{"type": "apply"}', '{"type": "apply", "value": "face"}', '{"type": "apply", "value": 1}'):
        with pytest.raises(BadRequest):
            parse_control(bad)


def test_without_the_model_apply_says_how_to_get_it_and_exits_non_zero(tmp_path, tiny_style, monkeypatch, capsys):
    monkeypatch.setattr(litert, "MODEL_DIRS", [str(tmp_path)])
    litert.load_model.cache_clear()
    try:
        code = stream.main(["run", "--source", "demo", "--headless", "--max-frames", "2", "--style", str(tiny_style),
                            "--apply", "background", "--output", str(tmp_path / "out.mp4")])
    finally:
        litert.load_model.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "scripts/setup.sh" in err[-1] and "selfie segmentation" in err[-1]
    assert not (tmp_path / "out.mp4").exists()


def test_the_live_key_without_the_model_says_so_and_keeps_styling_everything(tiny_style, tmp_path, monkeypatch):
    from export.backends import create_stylizer

    processor = FrameProcessor(create_stylizer(tiny_style, "pytorch-cpu"))
    monkeypatch.setattr(litert, "MODEL_DIRS", [str(tmp_path)])
    litert.load_model.cache_clear()
    try:
        said = LiveControls(processor, [str(tiny_style)]).handle_key(ord("a"))
    finally:
        litert.load_model.cache_clear()
    assert "scripts/setup.sh" in said and processor.apply == "all"


@pytest.mark.parametrize("value", ["0", "-1", "two", "²", "1.5", ""])
def test_mask_every_takes_a_whole_number_or_auto(value: str) -> None:
    from realtime.run import parse_mask_every

    assert parse_mask_every("auto") is None and parse_mask_every("3") == 3
    with pytest.raises(UserError, match="--mask-every"):
        parse_mask_every(value)


@pytest.mark.parametrize("command", ["run", "serve"])
def test_the_cli_offers_the_modes_the_processor_knows(command: str) -> None:
    sub = stream.build_parser()._subparsers._group_actions[0].choices[command]  # argparse keeps them there
    assert tuple(next(a for a in sub._actions if a.dest == "apply").choices) == segmentation.APPLY_MODES


def frame_of(image: np.ndarray, index: int, input_id: int = 0):
    from realtime.frames import Frame

    return Frame(image, index / 8, 0.0, index, input_id=input_id)


def test_a_person_entering_is_masked_on_the_first_frame_they_appear() -> None:
    masks = segmentation.PersonMasks(every=1)  # (auto would see these frames come back to back: CPU-bound)
    frames = [empty_room()] * 4 + [astronaut_frame()] * 2
    found = [masks(frame_of(image, i))[0] for i, image in enumerate(frames)]
    assert all(mask.max() == 0 for mask in found[:4])
    assert found[4][FACE].mean() > 0.95 and found[4][WALL].max() == 0.0


def test_no_mask_crosses_from_one_input_to_another_or_over_a_pause() -> None:
    """Two WebRTC peers through one processor, the model held every 2nd frame: each keeps its own mask; after a
    gap in an input's frames (the style was off) nothing of the old scene is held or mixed in."""
    masks = segmentation.PersonMasks(every=2)
    for i in range(3):
        person, _ = masks(frame_of(astronaut_frame(), i, input_id=1))
        room, _ = masks(frame_of(empty_room(), i, input_id=2))
        assert person[FACE].mean() > 0.95 and room.max() == 0.0
    after_gap, _ = masks(frame_of(empty_room(), 9, input_id=1))  # frames 3-8 were not styled
    assert after_gap.max() == 0.0
    masks.forget(1)
    masks.forget(2)
    assert masks._maskers == {}


def test_a_folder_of_photos_gets_a_mask_per_photo(tmp_path: Path, tiny_style: Path) -> None:
    """The person, then an empty room, with the mask held for 4 frames: the room comes out untouched (PNG:
    exactly), not with the previous photo's person styled into it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, image in (("1.png", astronaut_frame()), ("2.png", empty_room())):
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    done = run("--source", str(folder), "--style", str(tiny_style), "--apply", "person", "--mask-every", "4",
               "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    room_in = cv2.imread(str(folder / "2.png"))
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "2.png")), room_in)
    person_out = cv2.imread(str(tmp_path / "out" / "1.png"))[..., ::-1]
    assert np.abs(person_out[FACE].astype(int) - astronaut_frame()[FACE]).mean() > 15  # styled


def run(*args: str) -> subprocess.CompletedProcess:
    return stylecast("--headless", "--no-captions", *args)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, tiny_style: Path) -> dict[str, object]:
    """The astronaut clip styled three ways (all, background, person), decoded; and the mask of its input."""
    folder = tmp_path_factory.mktemp("apply")
    source = photo_clip(folder / "in.mp4", [(astronaut_frame(), 8)], fps=8)
    outputs = {}
    for apply in ("all", "background", "person"):
        done = run("--source", str(source), "--style", str(tiny_style), "--apply", apply,
                   "--output", str(folder / f"{apply}.mp4"))
        assert done.returncode == 0, done.stderr
        outputs[apply] = decode(folder / f"{apply}.mp4").frames
    inputs = decode(source).frames
    masker = PersonMasker()
    masks = [masker(frame) for frame in inputs]
    return {"input": inputs, "masks": masks, **outputs}


def regions(mask: np.ndarray, margin: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(surely the person, surely not): the mask's 1 and 0 regions shrunk by `margin` px, away from the feather."""
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return (cv2.erode((mask == 1).astype(np.uint8), kernel) > 0), (cv2.erode((mask == 0).astype(np.uint8), kernel) > 0)


@pytest.mark.parametrize("apply", ["background", "person"])
def test_a_recording_styles_only_the_chosen_region(recorded, apply: str) -> None:
    assert len(recorded[apply]) == len(recorded["input"]) == 8
    for original, mask, out, everything in zip(recorded["input"], recorded["masks"], recorded[apply], recorded["all"]):
        person, background = regions(mask)
        assert person.mean() > 0.25 and background.mean() > 0.25
        kept, styled = (background, person) if apply == "person" else (person, background)
        difference = np.abs(out.astype(int) - original.astype(int)).mean(axis=-1)
        assert difference[kept].mean() < 3.0  # the input's own pixels, within codec error
        assert difference[styled].mean() > 15.0
        like_all = np.abs(out.astype(int) - everything.astype(int)).mean(axis=-1)
        assert like_all[styled].mean() < 3.0  # styled exactly as --apply all styles it


# --- the page's control in headless Chromium, with a person in front of the fake camera --------------------

REGION_DIFF_JS = """([boxes]) => {
  const grab = (id) => {
    const canvas = document.createElement("canvas");
    canvas.width = 320; canvas.height = 240;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(document.getElementById(id), 0, 0, 320, 240);
    return ctx.getImageData(0, 0, 320, 240).data;
  };
  const output = grab("output"), camera = grab("camera");
  return boxes.map(([top, bottom, left, right]) => {
    let diff = 0, n = 0;
    for (let y = top; y < bottom; y++) for (let x = left; x < right; x++) {
      const i = 4 * (y * 320 + x);
      for (let c = 0; c < 3; c++) diff += Math.abs(output[i + c] - camera[i + c]);
      n += 3;
    }
    return diff / n;
  });
}"""


def y4m(path: Path, image: np.ndarray, frames: int = 10) -> Path:
    """A YUV4MPEG2 clip of a still photo: what Chromium's fake camera can play instead of its test pattern."""
    h, w = image.shape[:2]
    planes = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420).tobytes()
    path.write_bytes(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + planes) * frames)
    return path


def test_the_page_styles_only_the_background_or_only_the_person(tmp_path: Path) -> None:
    from test_webrtc import _free_port, _wait_for_url, make_tinted_style
    from test_webrtc_browser import CHROMIUM, PATIENCE_MS, PATIENCE_S, playing_page

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    warm = make_tinted_style(tmp_path, "warm", (3.0, 0.0, -3.0))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "stream.py"), "serve", "--port", str(_free_port()), "--style", str(warm),
         "--no-captions", "--backend", "pytorch-cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    boxes = [[r.start, r.stop, c.start, c.stop] for r, c in (FACE, WALL)]
    try:
        url = _wait_for_url(process)
        with playing_page(url, height=900, camera=y4m(tmp_path / "astronaut.y4m", astronaut_frame())) as (_, page):
            page.wait_for_function("() => window.stylecast.state && window.stylecast.state.apply === 'all'",
                                   timeout=PATIENCE_MS)
            for apply, face_kept, wall_kept in (("background", True, False), ("person", False, True),
                                                ("all", False, False)):
                page.select_option("#apply", apply)
                page.wait_for_function(f"() => window.stylecast.state.apply === '{apply}'", timeout=PATIENCE_MS)
                assert page.input_value("#apply") == apply
                # frames already on their way were styled the old way: wait for the new look to arrive
                wanted = " && ".join(f"d[{i}] {'<' if kept else '>'} {15 if kept else 40}"
                                     for i, kept in enumerate((face_kept, wall_kept)))
                page.wait_for_function(f"() => {{ const d = ({REGION_DIFF_JS})([{boxes}]); return {wanted}; }}",
                                       timeout=PATIENCE_MS)
            assert page.locator("#error").is_hidden()
    finally:
        process.terminate()
        output = process.communicate(timeout=PATIENCE_S)[0]
    assert process.returncode == 0 and "Traceback" not in output, output


def test_a_person_who_leaves_leaves_no_ghost() -> None:
    """Person, then a cut to an empty room: the room's first frame is all background (a carried-over outline
    would style a ghost of the person in `person` mode)."""
    masks = segmentation.PersonMasks(every=1)
    for i in range(4):
        masks(frame_of(astronaut_frame(), i))
    after, _ = masks(frame_of(empty_room(), 4))
    assert after.max() == 0.0


def test_a_held_mask_is_not_held_over_a_cut() -> None:
    """--mask-every 5: the mask from the person's frames is not laid over the empty room after a cut."""
    masks = segmentation.PersonMasks(every=5)
    for i in range(3):
        held, _ = masks(frame_of(astronaut_frame(), i))
    assert held[FACE].mean() > 0.95
    after, _ = masks(frame_of(empty_room(), 3))
    assert after.max() == 0.0

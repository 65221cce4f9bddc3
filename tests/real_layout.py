"""A tiny dataset tree in the official layouts of UCF101, HMDB51 and Kinetics-400, with the quirks of
the real downloads:

- UCF101: class folders of XviD-style MPEG-4 AVIs, ``ucfTrainTestlist/`` with CRLF line endings,
  1-based ``classInd.txt``, train lines with a label and test lines without, the ``HandstandPushups``
  folder holding ``v_HandStandPushups_*`` files, and two videos with packed B-frames as XviD wrote
  them (about 3,000 real UCF101 videos are stored that way): the stream ends with a packed pair whose
  B-VOP the decoder never outputs (``pack_bframes(..., ending="xvid")``), one of them a test video, so
  the evaluation's last clip reads the last frame the decoder outputs.
- HMDB51: AVIs whose names contain ``(``, ``)``, ``!`` and ``&``; ``testTrainMulti_7030_splits/`` with
  ``<video>.avi <flag> `` lines (trailing space; 1 = train, 2 = test, 0 = unused); one DivX 5 packed
  test video at 29.97 fps whose AVI header counts one frame more than the decoder outputs
  (``ending="dx50"``).
- Kinetics-400: H.264 mp4 with B-frames under ``train/<label>/`` and ``val/<label>/`` named
  ``<youtube_id>_<start:06d>_<end:06d>.mp4``, labels with spaces, a YouTube id starting with ``-``, an
  extra audio stream in one clip, and the official CSVs (``label,youtube_id,time_start,time_end,split,is_cc``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from quirky_videos import pack_bframes, write_mpeg4_avi

from vssl_bench.data.synthetic import write_video

FRAMES = 40
SIZE = (72, 96)  # H, W: small, so that the paper-scale path stays cheap on a CPU


def moving_frames(seed: int, n: int = FRAMES) -> np.ndarray:
    """A textured square drifting over noise: enough structure for the codecs' motion search."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    background = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    frames = np.repeat(background[None], n, axis=0)
    colour = rng.integers(0, 255, 3, dtype=np.uint8)
    for t in range(n):
        y, x = (5 + t) % (h - 24), (3 + 2 * t) % (w - 24)
        frames[t, y:y + 24, x:x + 24] = colour
    return frames


def _write_with_audio(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.options = {"bf": "2", "preset": "veryfast"}
        audio = container.add_stream("aac", rate=16000)
        samples = 0
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 640), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, samples
            samples += 640
            container.mux(audio.encode(chunk))
        container.mux(video.encode())
        container.mux(audio.encode())


def build_ucf101(root: Path) -> Path:
    ucf = root / "ucf101"
    ann = ucf / "ucfTrainTestlist"
    ann.mkdir(parents=True)
    classes = [("ApplyEyeMakeup", "ApplyEyeMakeup"), ("HandstandPushups", "HandStandPushups"), ("YoYo", "YoYo")]
    train, test = [], []
    seed = 0
    for number, (folder, spelling) in enumerate(classes, start=1):
        (ucf / folder).mkdir()
        for group in (1, 8):
            name = f"v_{spelling}_g{group:02d}_c01.avi"
            path = ucf / folder / name
            seed += 1
            if folder == "YoYo":  # packed B-frames, XviD's ending (41 frames end in a reference + B pair)
                plain = write_mpeg4_avi(root / "plain.avi", moving_frames(seed, FRAMES + 1), gop=12, bframes=1)
                pack_bframes(plain, path, ending="xvid")
                Path(plain).unlink()
            else:
                write_mpeg4_avi(path, moving_frames(seed), gop=12, bframes=int(folder == "ApplyEyeMakeup"))
            (test if group < 8 else train).append((f"{folder}/{name}", number))
    (ann / "classInd.txt").write_bytes("".join(f"{i} {c}\r\n" for i, (c, _) in enumerate(classes, 1)).encode())
    for split in (1, 2, 3):
        (ann / f"trainlist0{split}.txt").write_bytes("".join(f"{p} {label}\r\n" for p, label in train).encode())
        (ann / f"testlist0{split}.txt").write_bytes("".join(f"{p}\r\n" for p, _ in test).encode())
    return ucf


def build_hmdb51(root: Path) -> Path:
    hmdb = root / "hmdb51"
    ann = hmdb / "testTrainMulti_7030_splits"
    ann.mkdir(parents=True)
    names = {
        "brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0", "Blonde_being_brushed_brush_hair_f_cm_np2_ri_med_0",
                       "(Kurzhaarschnitt)_brush_hair_h_nm_np1_le_goo_1", "unused_brush_hair_u_nm_np1_fr_bad_0"],
        "cartwheel": ["Cartwheel!_cartwheel_f_cm_np1_le_med_0", "Bodenturnen_&_Co_cartwheel_f_cm_np1_ri_bad_1",
                      "Turnen_cartwheel_f_cm_np1_fr_med_2", "unused_cartwheel_f_cm_np1_le_bad_3"],
    }
    seed = 100
    for cls, videos in names.items():
        (hmdb / cls).mkdir()
        flags = ["1", "1", "2", "0"]
        for name, flag in zip(videos, flags):
            seed += 1
            if cls == "cartwheel" and flag == "2":  # DivX 5 packed, header one above the decoder
                plain = write_mpeg4_avi(root / "plain.avi", moving_frames(seed), fps=Fraction(30000, 1001),
                                        gop=12, bframes=1)
                pack_bframes(plain, hmdb / cls / f"{name}.avi", ending="dx50")
                Path(plain).unlink()
            else:
                write_mpeg4_avi(hmdb / cls / f"{name}.avi", moving_frames(seed), gop=12)
        for split in (1, 2, 3):
            lines = "".join(f"{name}.avi {flag} \n" for name, flag in zip(videos, flags))
            (ann / f"{cls}_test_split{split}.txt").write_text(lines)
    return hmdb


def build_kinetics400(root: Path) -> Path:
    k400 = root / "kinetics400"
    rows = []
    clips = {
        "train": [("air drumming", "-Bc5Ewgc-4A", 12), ("air drumming", "Zzq0fX2Yl1A", 0),
                  ("abseiling", "0347ZoDXyP0", 130), ("abseiling", "_6yTXPgu-3w", 7)],
        "val": [("air drumming", "aBc-dEf_ghI", 40), ("abseiling", "-zz9Qw1aB2c", 3)],
    }
    seed = 200
    for subset, entries in clips.items():
        for label, ytid, start in entries:
            seed += 1
            folder = k400 / subset / label
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{ytid}_{start:06d}_{start + 10:06d}.mp4"
            if seed == 201:
                _write_with_audio(path, moving_frames(seed))
            else:
                write_video(path, moving_frames(seed), fps=25, gop=25)
            rows.append((label, ytid, start, start + 10, subset))
    for subset in ("train", "val"):
        lines = ["label,youtube_id,time_start,time_end,split,is_cc"]
        lines += [f'"{label}",{ytid},{s},{e},{sub},0' if " " in label else f"{label},{ytid},{s},{e},{sub},0"
                  for label, ytid, s, e, sub in rows if sub == subset]
        (k400 / f"kinetics-400_{subset}.csv").write_text("\n".join(lines) + "\n")
    return k400


def build_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    build_ucf101(root)
    build_hmdb51(root)
    build_kinetics400(root)
    return root

"""Transcoding a dataset for fast loading: every video re-encoded at a small short side with frequent
keyframes, the folder layout, file names and every other file (split lists, CSVs) kept, so the
readers and the data module take the new tree unchanged.

Why: decoding cost grows with the pixel count and with the frames decoded between a keyframe and a
needed frame. Kinetics clips (a keyframe every few seconds, often 340x256 or larger) decode many
frames per sampled one; at short side 128 with a keyframe every 16 frames a sample decodes little
more than it uses. Frame counts are kept (every frame re-encoded, same rate), so samplers and
temporal annotations mean the same frames.

How the H.264 is coded is a named profile (:data:`PROFILES`, ``vssl-bench data transcode --profile``);
every profile keeps the short side, the frame count and exact reads (``read_frames`` equals a
sequential decode on each, ``tests/test_transcode.py``). ``benchmarks/cores_per_gpu.py`` measures what
each costs a loader worker per sample, on disk and to transcode.

Resumable: an output that exists, opens and has the source's frame count is kept; outputs are
written under a temporary name and renamed when verified. A video that fails is reported and
counted; the run goes on.
"""

from __future__ import annotations

import os
import shutil
import typing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.video.frame import PictureType

from vssl_bench.data.decode import probe
from vssl_bench.errors import ConfigError, DatasetNotFoundError

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov")


@dataclass(frozen=True)
class Profile:
    """How a transcoded video is coded. ``keyframe_interval``: frames from one keyframe to the next (1:
    every frame a keyframe); ``x264``: libx264 options over the shared ones (constant quality ``crf``,
    preset veryfast, no B-frames, no scene-cut keyframes). MPEG-4 part 2 outputs (``.avi``) take the
    keyframe interval only (that codec has no CABAC or deblocking to turn off, and its B-frames are
    left out)."""

    keyframe_interval: int
    x264: dict[str, str]
    purpose: str


# B-frames that no frame refers to, a fixed number between reference frames (no adaptive placement, no
# B-pyramid): a read skips those it does not need (skip_frame=NONREF), so strided clips decode about
# one frame in eight between the ones they use
NONREF_B7 = {"bf": "7", "x264-params": "b-adapt=0:b-pyramid=none"}
# predicted frames' macroblocks predicted whole (16x16: no 8x8 sub-partitions, no 4x4/8x8 intra blocks in
# P and B frames; keyframes keep them): fewer motion-compensation calls per decoded frame, some more bytes
WHOLE_MACROBLOCKS = "partitions=none"

PROFILES: dict[str, Profile] = {
    # the default first
    "fastdecode": Profile(
        32, {"tune": "fastdecode", "bf": "7", "x264-params": f"{NONREF_B7['x264-params']}:{WHOLE_MACROBLOCKS}"},
        "the default: x264's tune=fastdecode (CAVLC instead of CABAC, no deblocking, no weighted "
        "prediction: every frame is cheaper to decode), 7 non-reference B-frames between reference frames "
        "(reads skip those they do not use, so the frames before a wanted one in its keyframe's span cost "
        "an eighth of their decoding), whole-macroblock inter prediction, and a keyframe every 32 frames "
        "(fewer of the costly keyframes per sample); bytes per profile: README"),
    "intra": Profile(
        1, {"tune": "fastdecode"},
        "every frame a keyframe, coded as fastdecode codes it: a read decodes exactly the frames a sample "
        "uses and nothing between, but a keyframe costs several predicted frames to decode and ~6 times "
        "the bytes; for content whose predicted frames cost as much as keyframes, and sparse samplers"),
    "gop16": Profile(
        16, {},
        "the earlier default and the benchmarks' reference: a keyframe every 16 frames, no B-frames, x264's "
        "default coding (CABAC, deblocking)"),
}
DEFAULT_PROFILE = next(iter(PROFILES))
ProfileName = Literal["fastdecode", "intra", "gop16"]  # the command line's choices: PROFILES' names
assert typing.get_args(ProfileName) == tuple(PROFILES)


@dataclass
class TranscodeReport:
    written: int = 0
    kept: int = 0  # already transcoded and verified by an earlier run
    copied: int = 0  # non-video files
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"transcoded {self.written}, already done {self.kept}, other files copied {self.copied}, " \
               f"failed {len(self.failed)}"
        for path, error in list(self.failed.items())[:10]:
            text += f"\n  FAILED {path}: {error}"
        if len(self.failed) > 10:
            text += f"\n  ... and {len(self.failed) - 10} more"
        return text


def target_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(W, H) with the short side ``short_side``, aspect kept, both even (4:2:0 chroma needs it)."""
    scale = short_side / min(width, height)
    w, h = round(width * scale / 2) * 2, round(height * scale / 2) * 2
    return max(2, w), max(2, h)


def _verified(src: Path, dst: Path) -> bool:
    try:
        return dst.is_file() and probe(str(dst)).num_frames == probe(str(src)).num_frames
    except Exception:  # noqa: BLE001 - an unreadable output is simply not done yet
        return False


def profile_spec(profile: str | Profile) -> Profile:
    """A profile by name (:data:`PROFILES`), or one given as it is (the benchmarks' variants)."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r}: use one of {', '.join(PROFILES)}")
    return PROFILES[profile]


def transcode_video(src: Path, dst: Path, short_side: int = 128, keyframe_interval: int | None = None,
                    quality: int = 23, profile: str | Profile = DEFAULT_PROFILE) -> None:
    """Re-encode one video (``.avi`` as MPEG-4 part 2, anything else as H.264) as ``profile`` codes it;
    ``keyframe_interval`` overrides the profile's. Raises on failure."""
    spec = profile_spec(profile)
    keyframe_interval = spec.keyframe_interval if keyframe_interval is None else keyframe_interval
    info = probe(str(src))
    width, height = target_size(info.width, info.height, short_side)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    try:
        with av.open(str(src)) as source, av.open(str(tmp), mode="w") as out:
            in_stream = source.streams.video[0]
            in_stream.thread_type = "AUTO"
            rate = in_stream.average_rate or in_stream.guessed_rate or 25
            codec = "mpeg4" if dst.suffix.lower() == ".avi" else "libx264"
            stream = out.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.gop_size = keyframe_interval
            if codec == "libx264":
                stream.options = {"crf": str(quality), "preset": "veryfast", "bf": "0",
                                  "keyint_min": str(keyframe_interval), "sc_threshold": "0", **spec.x264}
            else:
                stream.codec_context.qscale = max(1, min(31, quality // 6))
                stream.codec_context.flags |= av.codec.context.Flags.qscale
            time_base = 1 / Fraction(rate)
            for i, frame in enumerate(source.decode(in_stream)):
                small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
                small.pts, small.time_base = i, time_base  # one output frame per input frame, evenly timed
                # the source's frame types would be forced on the encoder (its keyframes, its B-frames):
                # the profile alone decides them
                small.pict_type = PictureType.NONE
                out.mux(stream.encode(small))
            out.mux(stream.encode(None))
        if not _verified(src, tmp):
            raise RuntimeError(f"the output has {probe(str(tmp)).num_frames} frames, the source {info.num_frames}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _job(args: tuple[str, str, int, int | None, str | Profile]) -> tuple[str, str | None]:
    src, dst, short_side, keyframe_interval, profile = args
    try:
        transcode_video(Path(src), Path(dst), short_side, keyframe_interval, profile=profile)
        return src, None
    except Exception as exc:  # noqa: BLE001 - reported per file, the run goes on
        return src, f"{type(exc).__name__}: {exc}"


def transcode_tree(src: str | Path, dst: str | Path, short_side: int = 128, keyframe_interval: int | None = None,
                   workers: int | None = None, progress: bool = True,
                   profile: str | Profile = DEFAULT_PROFILE) -> TranscodeReport:
    """Transcode every video under ``src`` into the same relative path under ``dst`` as ``profile`` codes
    it (``keyframe_interval`` overrides the profile's); copy the rest."""
    if keyframe_interval is None:
        keyframe_interval = profile_spec(profile).keyframe_interval
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise DatasetNotFoundError(f"transcode source {src} is not a folder; pass the dataset's root folder.")
    if dst == src or src in dst.parents:
        raise ConfigError(f"transcode destination {dst} must lie outside the source {src}.")
    if short_side < 16 or keyframe_interval < 1:
        raise ConfigError(f"short_side={short_side}, keyframe_interval={keyframe_interval}: use >= 16 and >= 1.")
    report = TranscodeReport()
    jobs = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        out = dst / path.relative_to(src)
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            if not out.is_file() or out.stat().st_size != path.stat().st_size:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
                report.copied += 1
        elif _verified(path, out):
            report.kept += 1
        else:
            jobs.append((str(path), str(out), short_side, keyframe_interval, profile))
    if not jobs:
        return report
    from tqdm import tqdm

    workers = workers or max(1, len(os.sched_getaffinity(0)))
    with ProcessPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(jobs), unit="video", desc="transcode", disable=not progress) as bar:
        for future in as_completed([pool.submit(_job, job) for job in jobs]):
            path, error = future.result()
            if error is None:
                report.written += 1
            else:
                report.failed[path] = error
            bar.update(1)
            bar.set_postfix(failed=len(report.failed))
    return report

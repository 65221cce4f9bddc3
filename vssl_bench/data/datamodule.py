"""The one LightningDataModule shared by every method and every evaluation.

Modes:
* ``pretrain``: the train subset without labels; the pretext method's sampler (``method.sampler``)
  decides which frames form which clips and what the pretext targets are.
* ``finetune``: labelled clips for training (one random clip per video), and for validation/testing
  several evenly spaced clips per video, aggregated per video by the evaluation module.
* ``retrieval``: the train subset as gallery and the test subset as queries, N clips per video.

Workers decode the union of a sample's frames in one pass. Training on a GPU (``pixels="auto"``) they
ship the decoder's 4:2:0 planes at the stored size (``pixels="yuv420p"``): half the bytes of RGB and no
colour conversion or resizing on the loader's CPU; the model converts and resizes them to
``frame_size`` where the batch is (``transforms.batch_frames``), then augments
(``transforms.ClipAugment``). On a CPU, and with the decoded-video cache, they resize while converting
and ship uint8 ``(N_clips, T, H, W, 3)`` (``pixels="rgb24"``).

Bad videos: during training a video that fails to decode is replaced by another random video and
counted (``batch["skipped"]``, logged by the model as ``data/skipped_videos``); during evaluation the
item is kept with ``valid=False`` so the evaluator can leave it out and report how many it dropped.
The data module tallies both (``skipped_videos``) on the host, before a batch moves to the device, so
counting costs the training step no device synchronisation.

Too-short videos: a sampler whose draw needs more frames than the video has (``VideoTooShort``: PRP's
rate s needs 16 s + 1) gets another video for the same draw, as the official loader does; counted
apart (``batch["too_short"]``, ``skipped_videos.too_short``), since nothing is wrong with the video.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

from vssl_bench.data.datasets import Missing, VideoIndex, build_index
from vssl_bench.data.decode import Pixels, VideoInfo, read_frames
from vssl_bench.data.sampling import (
    ClipSampler,
    EvenClipsSampler,
    RandomClipSampler,
    VideoTooShort,
    sample_or_wrap,
)
from vssl_bench.errors import ConfigError, VideoDecodeError

log = logging.getLogger(__name__)
Mode = Literal["pretrain", "finetune", "retrieval"]


class DecodedVideos:
    """Whole videos decoded once and kept in this process's memory, least recently used dropped first
    beyond ``max_bytes``. For small datasets read over and over: the quick scale reads the same few
    hundred short videos in every stage of every cell and seed (``cache_frames: true``, loaders in
    the main process so the cache outlives a stage)."""

    def __init__(self, max_bytes: int = 2 << 30) -> None:
        self.max_bytes = max_bytes
        self._videos: OrderedDict[tuple[str, Any], torch.Tensor] = OrderedDict()
        self._bytes = 0

    def frames(self, info: VideoInfo, size: Any, threads: int) -> torch.Tensor:
        key = (info.path, size)
        video = self._videos.get(key)
        if video is None:
            video = read_frames(info.path, np.arange(info.num_frames), size, threads=threads, info=info)
            self._videos[key] = video
            self._bytes += video.numel()
            while self._bytes > self.max_bytes and len(self._videos) > 1:
                self._bytes -= self._videos.popitem(last=False)[1].numel()
        self._videos.move_to_end(key)
        return video


DECODED = DecodedVideos()


class ClipDataset(Dataset):
    """Items ``{"video", "targets", "index", "label", "skipped", "too_short", "valid"}`` from an index and a
    sampler.

    Every video is probed once, when the dataset is made (``VideoIndex.probes``: small lists with
    ``probe_workers`` processes, large ones read from their persisted index in ``index_cache``, see
    :mod:`~vssl_bench.data.probe_index`), and read with that probe afterwards. ``repeat`` passes over the index make one epoch.

    ``pixels="yuv420p"`` ships the decoder's 4:2:0 planes at the stored size (``read_frames``) as
    ``item["yuv420p"]`` ``(N, T, L)`` with ``item["stored_size"]``, leaving the conversion to RGB and the
    resizing to ``frame_size`` to :func:`~vssl_bench.data.transforms.batch_frames` where the batch goes;
    :class:`CollateClips` pads a batch of mixed stored sizes.
    """

    def __init__(
        self,
        index: VideoIndex,
        sampler: ClipSampler,
        frame_size: tuple[int, int] | int | None,
        replace_failed: bool,
        max_replacements: int = 20,
        decode_threads: int = 1,
        seed: int = 0,
        cache_frames: bool = False,
        repeat: int = 1,
        probe_workers: int = 0,
        draws: torch.Tensor | None = None,
        index_cache: str | None = None,
        pixels: Pixels = "rgb24",
    ) -> None:
        if len(index) == 0:
            raise ConfigError(f"{index!r} is empty: no videos to load. Check the root and the split files.")
        self.index, self.sampler, self.frame_size = index, sampler, frame_size
        self.replace_failed, self.max_replacements = replace_failed, max_replacements
        self.decode_threads, self.seed, self.cache_frames = decode_threads, seed, cache_frames
        self.repeat = repeat
        if pixels not in ("rgb24", "yuv420p"):
            raise ConfigError(f"pixels={pixels!r}: use rgb24 or yuv420p.")
        if pixels == "yuv420p" and cache_frames:
            raise ConfigError("pixels='yuv420p' reads each sample's frames; the decoded-video cache holds RGB: "
                              "use pixels='rgb24' with cache_frames")
        self.pixels = pixels
        self.draws = draws  # shared (rank, epoch) of the training draws, set before each epoch
        self.probes = index.probes(probe_workers, index_cache)
        self._long_enough: dict[int, np.ndarray] = {}  # frames needed -> rows with at least that many
        self._last_info: tuple[int, VideoInfo | None] = (-1, None)

    def __len__(self) -> int:
        return len(self.index) * self.repeat

    def _rng(self, i: int) -> np.random.Generator:
        if self.replace_failed and self.draws is not None:  # training: the seed's, the rank's, the epoch's
            rank, epoch = (int(v) for v in self.draws)
            return np.random.default_rng([self.seed, rank, epoch, i])
        if self.replace_failed:  # training outside a Trainer: fresh every call, from the global seed
            return np.random.default_rng([int(torch.randint(0, 2**31 - 1, ()).item()), i])
        return np.random.default_rng([self.seed, i])  # evaluation: the same clips every time

    def _info(self, row: int) -> VideoInfo:
        """The probe of ``row``, kept for the next call: a sample asks for it to draw and again to read."""
        if self._last_info[0] != row:
            self._last_info = row, self.probes.info(row)
        return self._last_info[1]

    def sample(self, row: int, rng: np.random.Generator) -> tuple[int, list[np.ndarray], dict[str, Any], int]:
        """``(row read, clips, targets, videos replaced)``. A draw the video is too short for is kept and
        put to another video, drawn uniformly among those long enough for it: the official PRP loader
        redraws uniformly over all videos until one is long enough, which lands on each long-enough
        video with the same probability. With none long enough that loop never ends; we read the
        video wrapping around instead and say so once."""
        try:
            return row, *self.sampler(self._info(row).num_frames, rng), 0
        except VideoTooShort as short:
            rows = self._long_enough.get(short.needed)
            if rows is None:
                counts = np.asarray([self.probes.info(r).num_frames for r in range(len(self.index))])
                rows = self._long_enough[short.needed] = np.flatnonzero(counts >= short.needed)
                if not rows.size:
                    log.warning("no video of %r has the %d frames a draw of the sampler needs (%s, %d frames); "
                                "such draws read their video wrapping around from frame 0. Use longer videos "
                                "or a sampler that needs fewer frames to follow the paper.",
                                self.index, short.needed, self.index.samples[row][0], short.num_frames)
            if not rows.size:
                return row, *short.wrapped, 0
            other = int(rows[rng.integers(len(rows))])
            return other, *short.resample(self._info(other).num_frames, rng), 1

    def load(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        row, clips, targets, too_short = self.sample(i % len(self.index), rng)
        i += row - i % len(self.index)  # the video read (the same pass over the index)
        path, label = self.index.samples[row]
        info = self._info(row)
        lengths = {len(c) for c in clips}
        if len(lengths) != 1:
            raise ConfigError(f"the sampler returned clips of different lengths {sorted(lengths)}")
        flat = np.concatenate(clips)
        if self.cache_frames:
            frames = DECODED.frames(info, self.frame_size, self.decode_threads)
            frames = torch.index_select(frames, 0, torch.from_numpy(flat))
        else:
            # each frame the clips share is decoded once and copied to its other places (a memcpy each);
            # gathering the clips from the decoded union with tensor indexing instead cost ~1.7 ms a sample
            size = self.frame_size if self.pixels == "rgb24" else None  # 4:2:0 planes: at the stored size
            frames = read_frames(path, flat, size, threads=self.decode_threads, info=info, pixels=self.pixels)
        item = {"video": frames.view(len(clips), len(clips[0]), *frames.shape[1:])}
        if self.pixels == "yuv420p":
            item = {"yuv420p": frames.view(len(clips), len(clips[0]), -1),
                    "stored_size": (frames.shape[1] * 2 // 3, frames.shape[2])}
        return item | {
            "targets": {k: torch.as_tensor(v) for k, v in targets.items()},
            "index": i,
            "label": label,
            "too_short": too_short,
        }

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = self._rng(i)
        tried, reason = i, ""
        for attempt in range(self.max_replacements + 1):
            try:
                item = self.load(tried, rng)
                return item | {"skipped": attempt, "valid": True, "skip_reason": reason}
            except VideoDecodeError as exc:
                log.warning("skipping undecodable video: %s", exc)
                reason = str(exc)
                if not self.replace_failed:
                    return self._placeholder(i, rng) | {"skipped": 1, "valid": False, "skip_reason": reason}
                tried = int(rng.integers(len(self)))
        raise VideoDecodeError(
            f"{self.max_replacements + 1} videos in a row failed to decode "
            f"(last: {self.index.samples[tried % len(self.index)][0]}); "
            "the dataset is probably corrupt or in an unsupported format. Check a few files with ffprobe."
        )

    def _placeholder(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        """Zeros shaped like a real item (needed to keep the batch), marked invalid."""
        clips, targets = sample_or_wrap(self.sampler, 64, rng)
        h, w = self.frame_size if isinstance(self.frame_size, tuple) else (self.frame_size or 112,) * 2
        if self.pixels == "yuv420p":
            h, w = h & ~1, w & ~1
            pixels = {"yuv420p": torch.zeros(len(clips), len(clips[0]), h * w * 3 // 2, dtype=torch.uint8),
                      "stored_size": (h, w)}
        else:
            pixels = {"video": torch.zeros(len(clips), len(clips[0]), h, w, 3, dtype=torch.uint8)}
        return pixels | {"targets": {k: torch.as_tensor(v) for k, v in targets.items()},
                "index": i, "label": self.index.samples[i % len(self.index)][1], "too_short": 0}


class CollateClips:
    """``default_collate``, except for items of 4:2:0 planes (``pixels="yuv420p"``): their flattened planes
    are padded to the batch's longest into ``batch["yuv420p"]`` ``(B, N, T, L)``, each video's stored
    ``(H, W)`` kept as host integers (``batch["stored_size"]``) with the size to convert to
    (``batch["frame_size"]``) for :func:`~vssl_bench.data.transforms.batch_frames`."""

    def __init__(self, frame_size: tuple[int, int] | int | None) -> None:
        self.frame_size = frame_size

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if "yuv420p" not in items[0]:
            return default_collate(items)
        planes = [item.pop("yuv420p") for item in items]
        sizes = [item.pop("stored_size") for item in items]
        if len(set(sizes)) > 1 and not isinstance(self.frame_size, tuple):
            raise ConfigError(f"a batch of videos stored at {sorted(set(sizes))} needs one frame size to be "
                              f"converted to; frame_size={self.frame_size!r}: give (height, width)")
        batch = default_collate(items)
        longest = max(p.shape[-1] for p in planes)
        if all(p.shape[-1] == longest for p in planes):
            batch["yuv420p"] = torch.stack(planes)
        else:
            batch["yuv420p"] = torch.zeros((len(planes), *planes[0].shape[:-1], longest), dtype=torch.uint8)
            for row, p in zip(batch["yuv420p"], planes):
                row[..., : p.shape[-1]] = p
        return batch | {"stored_size": sizes, "frame_size": self.frame_size}


class SkippedVideos:
    """Counts the videos a stage replaced (training) or dropped (evaluation) because they did not
    decode, with a few of the reasons, for the stage's record; and apart from them the videos replaced
    because a draw needed a longer video (``too_short``, in the record when not 0). Counts are summed
    over ranks."""

    def __init__(self, max_reasons: int = 5) -> None:
        self.replaced = 0
        self.dropped = 0
        self.too_short = 0
        self.reasons: list[str] = []
        self.max_reasons = max_reasons

    def add(self, batch: dict[str, Any], training: bool) -> None:
        count = int(batch["skipped"].sum()) if "skipped" in batch else 0
        if training:
            self.replaced += count
        else:
            self.dropped += count
        self.too_short += int(batch["too_short"].sum()) if "too_short" in batch else 0
        for reason in batch.get("skip_reason", []):
            if reason and reason not in self.reasons and len(self.reasons) < self.max_reasons:
                self.reasons.append(reason)

    def record(self, trainer: pl.Trainer | None = None) -> dict[str, Any]:
        counts = torch.tensor([self.replaced, self.dropped, self.too_short], dtype=torch.float64)
        if trainer is not None and trainer.world_size > 1:
            counts = trainer.strategy.reduce(counts.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        record = {"replaced": int(counts[0]), "dropped": int(counts[1]), "reasons": list(self.reasons)}
        return record | ({"too_short": int(counts[2])} if counts[2] else {})


class VideoDataModule(pl.LightningDataModule):
    """UCF101 / HMDB51 / Kinetics-400 / synthetic, for pretraining, fine-tuning and retrieval.

    Args:
        dataset: ``synthetic``, ``ucf101``, ``hmdb51`` or ``kinetics400``.
        root: the dataset's video root (``None`` for the cached synthetic dataset).
        split: official split 1, 2 or 3 (UCF101, HMDB51).
        annotations: split-file folder (UCF101/HMDB51) or CSV (Kinetics) if not in the default place.
        mode: ``pretrain``, ``finetune`` or ``retrieval``.
        clip_len: frames per clip for fine-tuning and retrieval (pretraining: the method's sampler).
        stride: frame step inside fine-tuning/retrieval clips.
        eval_clips: clips per video at test time and for retrieval (the papers use 10).
        val_clips: clips per video for the per-epoch validation pass (RSPNet: 1 centre clip).
        frame_size: decoded frame size ``(H, W)``, resized in the worker (VCOP/Pace/PRP: 128x171).
        batch_size: videos per batch per device.
        num_workers: loader processes per device.
        missing: ``error`` on videos listed but absent, or ``skip`` them with a warning.
        seed: seed for the evaluation clips (training randomness follows ``seed_everything``).
        repeat: passes over the training list per epoch (Pace's official epoch repeats it 10 times).
        cache_frames: keep whole decoded videos in memory (``DecodedVideos``) for small datasets.
        prefetch_factor: batches each worker keeps ready (PyTorch's default, 2: shared memory grows with
            workers x this x batch, and 16-32 workers per GPU are common).
        clip_starts: how the evenly spread test and retrieval clips' starts are rounded: ``round``
            (RSPNet's ``EvenNCrop``) or ``floor`` (VCOP's and PRP's test code).
        sampler: pretraining: the method's clip sampler (``method.sampler``: which frames, which targets).
        heldout: training videos held out (drawn with ``seed``) as the validation set, as PRP holds
            out 800 UCF101 / 400 HMDB51 videos; 0 validates fine-tuning on the test split (RSPNet's
            protocol) and pretraining not at all.
        index_cache: folder of the persisted probe indexes (default: ``$VSSL_BENCH_CACHE/index``, else
            ``~/.cache/vssl-bench/index``); each video list of 2,000 or more is probed once into it and
            read from it by every stage, rank and later run (see ``vssl-bench data index``).
        pixels: what workers ship: ``yuv420p``, the decoder's 4:2:0 planes, converted and resized to
            ``frame_size`` on the device (``transforms.batch_frames``; half the bytes, and 1.6-1.9x less
            loader CPU per sample on transcoded Kinetics, README), or ``rgb24``, converted and resized in
            the worker by ``swscale``. ``auto``: ``yuv420p`` when training runs on a GPU, else ``rgb24``
            (on a CPU the training process would do the conversion, slower than the workers do it:
            README), and ``rgb24`` with ``cache_frames`` (the cache holds RGB). The two agree to within
            one level (``tests/test_datamodule.py``).
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        root: str | None = None,
        split: int = 1,
        annotations: str | None = None,
        mode: Mode = "pretrain",
        clip_len: int = 16,
        stride: int = 1,
        eval_clips: int = 10,
        val_clips: int = 1,
        frame_size: tuple[int, int] = (128, 171),
        batch_size: int = 8,
        num_workers: int = 2,
        missing: Missing = "error",
        pin_memory: bool = True,
        persistent_workers: bool = True,
        decode_threads: int = 1,
        seed: int = 0,
        repeat: int = 1,
        heldout: int = 0,
        cache_frames: bool = False,
        sampler: ClipSampler | None = None,
        clip_starts: Literal["round", "floor"] = "round",
        prefetch_factor: int = 2,
        index_cache: str | None = None,
        pixels: Literal["auto", "rgb24", "yuv420p"] = "auto",
    ) -> None:
        super().__init__()
        if mode not in ("pretrain", "finetune", "retrieval"):
            raise ConfigError(f"mode={mode!r}: use pretrain, finetune or retrieval.")
        for name, value in (("clip_len", clip_len), ("stride", stride), ("eval_clips", eval_clips),
                            ("val_clips", val_clips), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(f"{name}={value}: must be at least 1.")
        if num_workers < 0 or heldout < 0:
            raise ConfigError(f"num_workers={num_workers}, heldout={heldout}: must be 0 or more.")
        self.dataset, self.root, self.split, self.annotations = dataset, root, split, annotations
        self.mode, self.clip_len, self.stride = mode, clip_len, stride
        self.eval_clips, self.val_clips = eval_clips, val_clips
        self.frame_size = tuple(frame_size)
        self.batch_size, self.num_workers, self.missing = batch_size, num_workers, missing
        self.pin_memory, self.persistent_workers = pin_memory, persistent_workers
        self.decode_threads, self.seed, self.repeat, self.heldout = decode_threads, seed, repeat, heldout
        self.cache_frames = cache_frames
        self.sampler = sampler
        self.clip_starts = clip_starts
        self.prefetch_factor = prefetch_factor
        self.index_cache = index_cache
        if pixels not in ("auto", "rgb24", "yuv420p"):
            raise ConfigError(f"pixels={pixels!r}: use auto, rgb24 or yuv420p.")
        self.pixels = pixels
        self.skipped_videos = SkippedVideos()
        self._indexes: dict[str, VideoIndex] = {}
        # (rank, epoch) of the training clip draws, in shared memory so that persistent loader workers
        # see each epoch's value: every rank draws its own clips, and a resumed epoch draws as it did
        self.draws = torch.zeros(2, dtype=torch.int64).share_memory_()
        self.order = torch.Generator()  # the training loader's video order

    def draw_epoch(self, rank: int, epoch: int) -> None:
        """Key the training draws of the coming epoch, before its loader iterates: the video order
        (one process; under DDP Lightning's sampler shuffles by seed and epoch) and each item's clips."""
        self.draws[0], self.draws[1] = rank, epoch
        self.order.manual_seed(int(np.random.SeedSequence([self.seed, rank, epoch]).generate_state(1)[0]))

    def shipped_pixels(self, device: torch.device | None = None) -> Pixels:
        """What the workers ship: ``pixels``, or for ``auto`` 4:2:0 planes when the batches go to a GPU
        (the trainer's device; without a trainer, a GPU if there is one) and RGB otherwise."""
        if self.pixels != "auto":
            return self.pixels
        if device is None:
            trainer = self.trainer
            device = trainer.strategy.root_device if trainer is not None else \
                torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return "yuv420p" if device.type == "cuda" and not self.cache_frames else "rgb24"

    # indexes ----------------------------------------------------------------------------------------
    def index(self, subset: str) -> VideoIndex:
        """``train``, ``test``, or ``heldout`` (the held-out part of the train split; ``train`` is the rest)."""
        if subset not in self._indexes:
            if subset in ("train", "heldout") and self.heldout:
                self._hold_out()
            elif subset == "heldout":
                raise ConfigError("no held-out videos: set heldout > 0 to validate on part of the train split.")
            else:
                self._indexes[subset] = build_index(self.dataset, self.root, subset, self.split, self.missing,
                                                    self.annotations)
        return self._indexes[subset]

    def _hold_out(self) -> None:
        full = build_index(self.dataset, self.root, "train", self.split, self.missing, self.annotations)
        if self.heldout >= len(full.samples):
            raise ConfigError(f"heldout={self.heldout}: the {self.dataset} train split has only {len(full.samples)} "
                              "videos; hold out fewer.")
        chosen = set(np.random.default_rng(self.seed).choice(len(full.samples), self.heldout, replace=False).tolist())
        # both parts read the whole split's probe table: one index file for every seed's draw
        self._indexes["train"] = full.subset([i for i in range(len(full.samples)) if i not in chosen])
        self._indexes["heldout"] = full.subset(sorted(chosen))
        self._indexes["train"].absent = full.absent

    @property
    def num_classes(self) -> int:
        return len(self.index("train").classes)

    def prepare_data(self) -> None:
        if self.dataset == "synthetic":  # generate once, on rank 0, before the workers look
            self.index("train")

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Tally replaced (training) and dropped (testing) videos while the batch is still on the host."""
        if self.trainer is not None and (self.trainer.training or self.trainer.testing):
            self.skipped_videos.add(batch, training=self.trainer.training)
        return batch

    def setup(self, stage: str | None = None) -> None:
        if self.mode == "pretrain" and self.sampler is None:
            raise ConfigError("pretraining needs the method's clip sampler: VideoDataModule(..., sampler=method.sampler).")

    # loaders ----------------------------------------------------------------------------------------
    def _loader(self, subset: str, sampler: ClipSampler, train: bool) -> DataLoader:
        dataset = ClipDataset(self.index(subset), sampler, self.frame_size, replace_failed=train,
                              decode_threads=self.decode_threads, seed=self.seed, cache_frames=self.cache_frames,
                              repeat=self.repeat if train else 1, probe_workers=self.num_workers,
                              draws=self.draws if train else None, index_cache=self.index_cache,
                              pixels=self.shipped_pixels())
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            collate_fn=CollateClips(self.frame_size),
            # one process: the order from the epoch's own generator (DDP: Lightning's sampler, by seed and epoch)
            sampler=RandomSampler(dataset, generator=self.order) if train else None,
            # the workers' base seeds from a generator of their own, so that making an iterator takes no
            # draw from the global one (the augmentation's): items draw from (seed, rank, epoch, index)
            generator=torch.Generator().manual_seed(self.seed),
            drop_last=train and len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            prefetch_factor=self.prefetch_factor if self.num_workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:  # made after a resumed run's epoch is restored, just before it iterates
            self.draw_epoch(self.trainer.global_rank, self.trainer.current_epoch)
        if self.mode == "pretrain":
            assert self.sampler is not None
            return self._loader("train", self.sampler, train=True)
        if self.mode == "finetune":
            return self._loader("train", RandomClipSampler(self.clip_len, self.stride), train=True)
        raise ConfigError("retrieval has no training loader; use mode=finetune or pretrain to train.")

    def val_dataloader(self) -> DataLoader:
        if self.mode == "pretrain" and self.heldout:  # PRP validates its pretext loss on held-out videos
            assert self.sampler is not None
            return self._loader("heldout", self.sampler, train=False)
        if self.mode != "finetune":
            return []  # type: ignore[return-value]
        subset = "heldout" if self.heldout else "test"
        return self._loader(subset, EvenClipsSampler(self.clip_len, self.val_clips, self.stride), train=False)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        clips = EvenClipsSampler(self.clip_len, self.eval_clips, self.stride, self.clip_starts)
        if self.mode == "retrieval":
            return [self._loader("train", clips, train=False), self._loader("test", clips, train=False)]
        return self._loader("test", clips, train=False)

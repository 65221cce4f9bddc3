from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from vssl_bench.data.datamodule import ClipDataset, CollateClips, SkippedVideos, VideoDataModule
from vssl_bench.data.datasets import Synthetic, VideoIndex
from vssl_bench.data.decode import read_frames
from vssl_bench.data.sampling import EvenClipsSampler, RandomClipSampler, even_starts, strided_clip
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
from vssl_bench.data.transforms import batch_frames
from vssl_bench.errors import ConfigError


class TwoClipSampler:
    """Overlapping clips of one video, as RSPNet/ASCNet ask for."""

    def __call__(self, n, rng):
        start = int(rng.integers(0, n - 32))
        return [strided_clip(start, 8, 2, n), strided_clip(start + 3, 8, 1, n)], {"speed": 1}


def test_pretrain_batch_follows_the_contract_and_union_decode_is_exact(synthetic_root):
    dm = VideoDataModule("synthetic", str(synthetic_root), frame_size=(32, 40), batch_size=3, num_workers=0,
                         pixels="rgb24")
    dm.sampler = TwoClipSampler()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (3, 2, 8, 32, 40, 3) and batch["video"].dtype == torch.uint8
    assert batch["targets"]["speed"].tolist() == [1, 1, 1]
    dataset = dm.train_dataloader().dataset
    item = dataset.load(5, np.random.default_rng(3))
    clips, _ = TwoClipSampler()(SyntheticSpec().num_frames, np.random.default_rng(3))
    for k, clip in enumerate(clips):
        assert torch.equal(item["video"][k], read_frames(dataset.index.samples[5][0], clip, (32, 40)))


def test_finetune_and_retrieval_loaders(synthetic_root):
    dm = VideoDataModule("synthetic", str(synthetic_root), mode="finetune", clip_len=8, eval_clips=4,
                         frame_size=(32, 40), batch_size=4, num_workers=0)
    train = next(iter(dm.train_dataloader()))
    assert batch_frames(train).shape == (4, 1, 8, 32, 40, 3) and train["label"].shape == (4,)
    test = next(iter(dm.test_dataloader()))
    assert batch_frames(test).shape == (4, 4, 8, 32, 40, 3) and test["valid"].all()
    assert dm.num_classes == 4
    dm = VideoDataModule("synthetic", str(synthetic_root), mode="retrieval", clip_len=8, eval_clips=2,
                         frame_size=(32, 40), num_workers=0)
    gallery, query = dm.test_dataloader()
    assert (len(gallery.dataset), len(query.dataset)) == (288, 384)


def test_on_a_gpu_workers_ship_yuv_planes_that_the_model_side_turns_into_the_rgb_batch(synthetic_root):
    """``pixels="auto"`` ships 4:2:0 planes when the batches go to a GPU (RGB on a CPU and with the frame
    cache); ``batch_frames`` turns them into the batch the RGB path ships, to within one level, for the
    same draws."""
    auto = VideoDataModule("synthetic", str(synthetic_root))
    assert auto.shipped_pixels(torch.device("cuda")) == "yuv420p" and auto.shipped_pixels(torch.device("cpu")) == "rgb24"
    cached = VideoDataModule("synthetic", str(synthetic_root), cache_frames=True)
    assert cached.shipped_pixels(torch.device("cuda")) == "rgb24"  # the cache holds RGB
    batches = {}
    for pixels in ("yuv420p", "rgb24"):
        dm = VideoDataModule("synthetic", str(synthetic_root), frame_size=(32, 40), batch_size=3, num_workers=0,
                             pixels=pixels)
        dm.sampler = TwoClipSampler()
        dm.draw_epoch(0, 0)
        batches[pixels] = next(iter(dm.train_dataloader()))
    planes, rgb = batches["yuv420p"], batches["rgb24"]
    assert "video" not in planes and planes["yuv420p"].dtype == torch.uint8
    h, w = planes["stored_size"][0]
    assert planes["yuv420p"].shape == (3, 2, 8, h * w * 3 // 2)  # half the bytes of RGB at the stored size
    assert torch.equal(planes["index"], rgb["index"])
    video = batch_frames(planes)
    assert video.shape == rgb["video"].shape and planes["video"] is video and "yuv420p" not in planes
    assert (video.int() - rgb["video"].int()).abs().max() <= 1
    with pytest.raises(ConfigError, match="pixels"):
        VideoDataModule("synthetic", str(synthetic_root), pixels="bgr")
    with pytest.raises(ConfigError, match="cache"):
        ClipDataset(VideoIndex([("a.avi", 0)], ["a"]), TwoClipSampler(), (32, 40), False, cache_frames=True,
                    pixels="yuv420p")


def test_a_batch_of_mixed_stored_sizes_is_padded_and_converted_per_size(tmp_path):
    """Kinetics transcoded to short side 128 keeps each video's aspect ratio (128x170, 128x228, odd
    sources): one batch holds several stored sizes; each video comes out as its RGB read would."""
    paths = []
    for k, (h, w) in enumerate([(48, 64), (48, 86), (48, 64), (49, 65)]):  # the last: odd, as some avi sources
        paths.append(tmp_path / f"v{k}.avi")
        write_video(paths[-1], render_video(SyntheticSpec(num_frames=20, height=h, width=w), k, 1, 1), gop=5)
    index = VideoIndex([(str(p), 0) for p in paths], ["a"])
    sampler = EvenClipsSampler(4, 2)
    got = {}
    for pixels in ("yuv420p", "rgb24"):
        dataset = ClipDataset(index, sampler, (32, 43), replace_failed=False, pixels=pixels)
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=CollateClips((32, 43)),
                                             num_workers=1 if pixels == "yuv420p" else 0)  # collated in a worker
        got[pixels] = next(iter(loader))
    batch = got["yuv420p"]
    assert batch["stored_size"] == [(48, 64), (48, 86), (48, 64), (48, 64)]  # the odd one lost a row and a column
    assert batch["yuv420p"].shape == (4, 2, 4, 48 * 86 * 3 // 2)  # padded to the widest
    video = batch_frames(batch)
    assert video.shape == (4, 2, 4, 32, 43, 3)
    difference = (video.int() - got["rgb24"]["video"].int()).abs()
    assert difference[:3].max() <= 1  # even sizes: swscale's pixels to within one level
    assert difference[3].float().mean() < 8  # the odd video: its last row and column are cropped first
    with pytest.raises(ConfigError, match="frame size"):
        CollateClips(None)([dataset_item | {} for dataset_item in (
            ClipDataset(index, sampler, None, False, pixels="yuv420p")[i] for i in (0, 1))])


def test_eval_clips_are_evenly_spread_and_loop_short_videos():
    clips, _ = EvenClipsSampler(16, 10)(300, np.random.default_rng(0))
    assert [int(c[0]) for c in clips] == even_starts(300, 16, 10).tolist()
    assert clips[0][0] == 0 and clips[-1][-1] == 299
    short, _ = RandomClipSampler(16, 2)(10, np.random.default_rng(0))
    assert short[0].max() < 10 and len(short[0]) == 16


def test_corrupt_video_is_replaced_in_training_and_flagged_in_evaluation(synthetic_root, tmp_path):
    real = Synthetic(synthetic_root).samples[:4]
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"\x00" * 1000)
    index = VideoIndex([(str(broken), 0)] + real, ["a", "b"])
    train = ClipDataset(index, RandomClipSampler(8), (32, 40), replace_failed=True)
    item = train[0]
    assert item["valid"] and item["skipped"] >= 1 and item["index"] != 0
    evaluation = ClipDataset(index, EvenClipsSampler(8, 3), (32, 40), replace_failed=False)
    item = evaluation[0]
    assert not item["valid"] and item["index"] == 0 and item["video"].shape == (3, 8, 32, 40, 3)


def test_skipped_videos_are_counted_with_their_reason_for_the_record(synthetic_root, tmp_path):
    real = Synthetic(synthetic_root).samples[:3]
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"\x00" * 1000)
    index = VideoIndex([(str(broken), 0)] + real, ["a", "b"])
    tally = SkippedVideos()
    train = ClipDataset(index, RandomClipSampler(8), (32, 40), replace_failed=True)
    tally.add(default_collate([train[i] for i in range(4)]), training=True)
    evaluation = ClipDataset(index, EvenClipsSampler(8, 2), (32, 40), replace_failed=False)
    tally.add(default_collate([evaluation[i] for i in range(4)]), training=False)
    record = tally.record()
    assert record["replaced"] >= 1 and record["dropped"] == 1
    assert len(record["reasons"]) == 1 and "broken.avi" in record["reasons"][0]


def test_bad_config_values_are_clear_errors():
    with pytest.raises(ConfigError, match="mode='pre'"):
        VideoDataModule(mode="pre")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="clip_len=0"):
        VideoDataModule(clip_len=0)
    dm = VideoDataModule()
    with pytest.raises(ConfigError, match="sampler"):
        dm.setup("fit")


def test_cached_frames_are_the_decoded_frames(synthetic_root):
    """``cache_frames`` (the quick scale) serves the same clips as decoding each time."""
    from vssl_bench.data.datamodule import DECODED

    plain = VideoDataModule("synthetic", str(synthetic_root), frame_size=(32, 40), batch_size=3, num_workers=0,
                            pixels="rgb24")
    cached = VideoDataModule("synthetic", str(synthetic_root), frame_size=(32, 40), batch_size=3, num_workers=0,
                             cache_frames=True)
    for dm in (plain, cached):
        dm.sampler = TwoClipSampler()
    a = plain.train_dataloader().dataset.load(7, np.random.default_rng(1))
    b = cached.train_dataloader().dataset.load(7, np.random.default_rng(1))
    again = cached.train_dataloader().dataset.load(7, np.random.default_rng(1))  # from memory this time
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["video"], again["video"])
    assert any(key[0] == plain.index("train").samples[7][0] for key in DECODED._videos)


def test_the_data_module_tallies_skips_on_the_host_before_transfer(synthetic_root):
    """Training replacements and test drops are counted from the host batch (no device read in the step);
    validation passes are not counted (their videos are tested again)."""
    from types import SimpleNamespace

    dm = VideoDataModule("synthetic", str(synthetic_root), mode="finetune", num_workers=0)
    batch = {"skipped": torch.tensor([0, 2, 1]), "skip_reason": ["", "a.avi is truncated", "b.avi"]}
    for training, testing in ((True, False), (False, False), (False, True)):
        dm.trainer = SimpleNamespace(training=training, testing=testing)
        assert dm.on_before_batch_transfer(batch, 0) is batch
    record = dm.skipped_videos.record()
    assert (record["replaced"], record["dropped"]) == (3, 3) and record["reasons"] == ["a.avi is truncated", "b.avi"]


def test_test_clip_starts_follow_the_recipes_protocol(synthetic_root):
    """PRP/VCOP's test and retrieval code truncates the evenly spread starts; RSPNet's rounds them."""
    from vssl_bench.bench.recipes import experiments_dir, load_recipe

    assert load_recipe(experiments_dir() / "prp" / "c3d_ucf101.yaml").finetune.clip_starts == "floor"
    assert load_recipe(experiments_dir() / "rspnet" / "r3d18_k400.yaml").retrieval.clip_starts == "round"
    for starts in ("round", "floor"):
        dm = VideoDataModule("synthetic", str(synthetic_root), mode="finetune", clip_len=16, eval_clips=10,
                             num_workers=0, clip_starts=starts)
        sampler = dm.test_dataloader().dataset.sampler
        clips, _ = sampler(100, np.random.default_rng(0))
        assert [int(c[0]) for c in clips] == even_starts(100, 16, 10, starts).tolist()
    assert even_starts(100, 16, 10, "floor").tolist() != even_starts(100, 16, 10, "round").tolist()


def test_prp_draw_too_long_for_its_video_reads_another_long_enough_video_at_the_same_rate(tmp_path, caplog):
    """Tiny videos of 20, 40 and 60 frames, PRP's sampler with 4-frame clips (rate s needs 4 s + 1
    frames): a rate-8 draw on the 20-frame video reads the 40- or the 60-frame one, each about half the
    time, at rate 8 (the official loader's redraw until a long-enough video); every other draw, and
    every draw on a long-enough video, is the sampler's own, start for start."""
    from vssl_bench.data.synthetic import write_video
    from vssl_bench.methods.prp import DilatedSampler

    paths = []
    for n in (20, 40, 60):
        paths.append(str(tmp_path / f"v{n}.avi"))
        write_video(paths[-1], np.random.default_rng(n).integers(0, 255, (n, 16, 16, 3), dtype=np.uint8))
    sampler = DilatedSampler(4, (1, 2, 4, 8))
    dataset = ClipDataset(VideoIndex([(p, 0) for p in paths], ["a"]), sampler, None, replace_failed=True)
    read, rates = [], []
    for seed in range(400):
        row, clips, targets, replaced = dataset.sample(0, np.random.default_rng(seed))
        rates.append(targets["rate"])
        assert replaced == (targets["rate"] == 3) and (row != 0) == replaced
        if replaced:
            read.append(row)
            assert set(np.diff(clips[0])) == {8} and clips[0][-1] + 8 < (20, 40, 60)[row]  # fits, not wrapped
        for long in (1, 2):  # a long-enough video: exactly what the sampler draws by itself
            _, clips, targets, replaced = dataset.sample(long, np.random.default_rng(seed))
            alone, expected = sampler((20, 40, 60)[long], np.random.default_rng(seed))
            assert not replaced and targets == expected and all(np.array_equal(a, b) for a, b in zip(clips, alone))
    assert 70 < len(read) < 130 and 0.35 < np.mean(np.asarray(read) == 1) < 0.65
    assert np.bincount(rates).min() > 70  # the rate distribution stays uniform

    seed = next(k for k in range(100) if np.random.default_rng(k).integers(4) == 3)  # a rate-8 draw
    item = dataset.load(0, np.random.default_rng(seed))  # the item is the other video's
    row, clips, _, _ = dataset.sample(0, np.random.default_rng(seed))
    assert item["too_short"] == 1 and item["index"] == row != 0 and item["targets"]["rate"] == 3
    assert torch.equal(item["video"][0], read_frames(paths[row], clips[0], None))
    tally = SkippedVideos()
    tally.add(default_collate([item | {"skipped": 0}, dataset.load(1, np.random.default_rng(seed)) | {"skipped": 0}]),
              training=True)
    assert tally.record() == {"replaced": 0, "dropped": 0, "reasons": [], "too_short": 1}

    alone = ClipDataset(VideoIndex([(paths[0], 0)], ["a"]), sampler, None, replace_failed=True)
    with caplog.at_level("WARNING"):
        row, clips, targets, replaced = alone.sample(0, np.random.default_rng(seed))
    assert (row, replaced, targets["rate"]) == (0, 0, 3) and clips[0].max() < 20  # nothing longer: wrapped
    assert "no video" in caplog.text and "33 frames" in caplog.text

from __future__ import annotations

import random

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.ops import roi_align

from vssl_bench.data.transforms import ClipAugment
from vssl_bench.errors import ConfigError


def video(b=2, n=2, t=4, h=20, w=30):
    return torch.randint(0, 256, (b, n, t, h, w, 3), dtype=torch.uint8)


def test_center_crop_is_an_exact_crop():
    v = video()
    out = ClipAugment(size=10, crop="center", flip_p=0, normalize="unit")(v)
    expected = v[:, :, :, 5:15, 10:20].permute(0, 1, 5, 2, 3, 4).float() / 255
    assert out.shape == (2, 2, 3, 4, 10, 10)
    assert torch.allclose(out, expected, atol=1e-5)


def test_random_crop_is_a_window_of_the_frame():
    v = video(b=1, n=1)
    out = ClipAugment(size=10, crop="random", flip_p=0, normalize="unit")(v)[0, 0]
    frame = v[0, 0].permute(3, 0, 1, 2).float() / 255
    hits = [(y, x) for y in range(11) for x in range(21)
            if torch.allclose(frame[:, :, y:y + 10, x:x + 10], out, atol=1e-5)]
    assert len(hits) == 1


def test_shared_clips_get_identical_augmentation_and_others_differ():
    torch.manual_seed(0)
    v = video(b=4, n=3)
    v[:, 2] = v[:, 1]
    aug = ClipAugment(size=12, jitter=(0.4, 0.4, 0.4, 0.4), grayscale_p=0.2)
    out = aug(v, share=[0, 1, 1])
    assert torch.allclose(out[:, 1], out[:, 2])
    v[:, 0] = v[:, 1]
    out = aug(v)
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_flip_and_normalisation_modes():
    v = video(b=1, n=1)
    plain = ClipAugment(size=10, crop="center", flip_p=0, normalize="unit")(v)
    flipped = ClipAugment(size=10, crop="center", flip_p=1, normalize="unit")(v)
    assert torch.allclose(plain.flip(-1), flipped)
    bgr = ClipAugment(size=10, crop="center", flip_p=0, normalize="bgr255")(v)
    assert torch.allclose(bgr, plain.flip(2) * 255, atol=1e-3)
    imagenet = ClipAugment(size=10, crop="center", flip_p=0)(v)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)
    assert torch.allclose(imagenet[0, 0], (plain[0, 0] - mean) / std, atol=1e-5)


def test_per_frame_jitter_changes_frames_independently():
    torch.manual_seed(0)
    v = video(b=1, n=1, t=6)
    v[:] = v[:, :, :1]  # six identical frames
    clip = ClipAugment(size=10, crop="center", flip_p=0, jitter=(0.8, 0.8, 0.8, 0.2), normalize="unit")(v)[0, 0]
    frames = ClipAugment(size=10, crop="center", flip_p=0, jitter=(0.8, 0.8, 0.8, 0.2), jitter_per_frame=True,
                         normalize="unit")(v)[0, 0]
    assert torch.allclose(clip[:, 0], clip[:, 5])
    assert not torch.allclose(frames[:, 0], frames[:, 5])


def test_bad_values_are_config_errors():
    with pytest.raises(ConfigError, match="crop='zoom'"):
        ClipAugment(crop="zoom")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="flip_p=2"):
        ClipAugment(flip_p=2)
    with pytest.raises(ConfigError, match="larger than the decoded frames"):
        ClipAugment(size=64, crop="center")(video())


class WholeFrameReference(ClipAugment):
    """The arithmetic before cropping came first: every frame of the batch converted to float and
    scaled to [0, 1], then one ``roi_align`` (exact windows with one sample per pixel). The random
    draws are the class's own, so both see the same boxes, flips and colours."""

    def _crop(self, clips, boxes):
        k, t, h, w, c = clips.shape
        x = clips.permute(0, 1, 4, 2, 3).reshape(k, t * c, h, w).float().div_(255)
        exact = self.crop in ("random", "center")
        rois = torch.cat([torch.arange(k, dtype=x.dtype)[:, None], boxes], 1)
        out = roi_align(x, rois, output_size=self.size, spatial_scale=1.0, sampling_ratio=1 if exact else 2,
                        aligned=True)
        return out.view(k, t, c, self.size, self.size)


@pytest.mark.parametrize("crop", ["random_resized", "random", "center", "center_square", "resize"])
@pytest.mark.parametrize("shape", [(27, 45), (45, 27)])
def test_cropping_first_gives_the_whole_frame_results(crop, shape):
    v = video(b=3, n=3, t=4, h=shape[0], w=shape[1])
    settings = dict(size=16, crop=crop, flip_p=0.5, jitter=(0.4, 0.4, 0.4, 0.2), jitter_p=0.8, grayscale_p=0.3)
    results = []
    for augment in (ClipAugment(**settings), WholeFrameReference(**settings)):
        torch.manual_seed(5)
        random.seed(5)
        results.append(augment(v, share=[0, 1, 1]))
    assert torch.allclose(results[0], results[1], atol=2e-5)


class FloatWrites(TorchDispatchMode):
    """Counts operations that write a float tensor of at least ``numel`` elements (views excluded)."""

    def __init__(self, numel: int) -> None:
        super().__init__()
        self.numel, self.writes = numel, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if (isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel() >= self.numel
                and not func.is_view and func.__name__.split(".")[0] not in ("empty", "empty_strided")):
            self.writes.append(func.__name__)
        return out


@pytest.mark.parametrize(("crop", "allowed"), [("random", 0), ("center", 0), ("center_square", 0),
                                               ("random_resized", 1), ("resize", 1)])
def test_float_work_is_done_on_the_crop_not_the_frame(crop, allowed):
    """Fixed windows are cut from the uint8 frames before any float exists; crops whose boxes live on
    the device convert the frame once (layout and dtype in one pass) and scale only the output."""
    v = video(b=2, n=2, t=4, h=40, w=80)
    with FloatWrites(v.numel() * 9 // 10) as watch:  # a float copy of (nearly) every pixel
        ClipAugment(size=24, crop=crop, jitter=(0.4, 0.4, 0.4, 0.1), grayscale_p=0.2)(v)
    assert len(watch.writes) <= allowed, watch.writes

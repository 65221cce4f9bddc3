"""Batched clip augmentation that runs on the device after the uint8 batch is transferred.

Each clip draws its own parameters (crop box, flip, jitter factors, grayscale), shared by all its
frames unless ``jitter_per_frame`` (Pace redraws colour jitter for every frame). Clips can be told to
share parameters (RSPNet's two speed versions of the key window share one crop and one jitter draw).

Cropping comes first and reads the uint8 frames; only what the crop needs is converted to float.
Fixed-size windows (``random``, ``center``) are gathered straight from the uint8 batch (an exact crop,
no interpolation). Crops that resize are one ``torchvision.ops.roi_align`` call with one box per clip,
the time axis folded into channels, over the part of the frame the boxes can reach: the centred square
for ``center_square``; the whole frame for ``resize`` and for ``random_resized``, whose boxes are drawn
on the device and could only be bounded by reading them on the host (a synchronisation per step). The
scaling to [0, 1] happens after the crop, on the small output.
Colour jitter follows torchvision's definitions for brightness, contrast and saturation; hue is a
rotation of the chroma plane in YIQ space (the usual vectorised approximation of an HSV hue shift).
The order of the four jitter operations is shuffled once per batch.
"""

from __future__ import annotations

import math
import random
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from vssl_bench.data.decode import Size, output_size, yuv420_planes
from vssl_bench.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CropMode = Literal["random_resized", "random", "center", "center_square", "resize"]
NormMode = Literal["imagenet", "unit", "bgr255"]

_GRAY = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


class ClipAugment(nn.Module):
    """uint8 ``(B, N, T, H, W, 3)`` -> float ``(B, N, 3, T, size, size)``.

    crop: ``random_resized`` (area ``scale``, aspect ``ratio``, then resize: RSPNet), ``random`` (a
    ``size`` window at a random place: VCOP/Pace), ``center`` (a ``size`` window in the middle:
    VCOP/PRP), ``center_square`` (the largest centred square resized: RSPNet's evaluation), ``resize``
    (the whole frame resized to a square: Pace's S3D-G). ``normalize``: ``imagenet`` mean/std on [0, 1],
    ``unit`` ([0, 1], PRP), ``bgr255`` (BGR order in 0..255, Pace's OpenCV input).
    """

    def __init__(
        self,
        size: int = 112,
        crop: CropMode = "random_resized",
        scale: tuple[float, float] = (0.4, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
        jitter_p: float = 1.0,
        jitter_per_frame: bool = False,
        grayscale_p: float = 0.0,
        normalize: NormMode = "imagenet",
    ) -> None:
        super().__init__()
        if crop not in ("random_resized", "random", "center", "center_square", "resize"):
            raise ConfigError(f"crop={crop!r}: use random_resized, random, center, center_square or resize.")
        if normalize not in ("imagenet", "unit", "bgr255"):
            raise ConfigError(f"normalize={normalize!r}: use imagenet, unit or bgr255.")
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ConfigError(f"scale={scale}: need 0 < min <= max <= 1.")
        for name, p in (("flip_p", flip_p), ("jitter_p", jitter_p), ("grayscale_p", grayscale_p)):
            if not 0 <= p <= 1:
                raise ConfigError(f"{name}={p}: a probability must lie in [0, 1].")
        self.size, self.crop, self.scale, self.ratio = size, crop, scale, ratio
        self.flip_p, self.jitter, self.jitter_p = flip_p, jitter, jitter_p
        self.jitter_per_frame, self.grayscale_p, self.normalize = jitter_per_frame, grayscale_p, normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        # colour constants live on the module's device: building them per call would copy host -> device
        # (a synchronising copy on a GPU) in every step
        to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)
        self.register_buffer("gray", torch.tensor(_GRAY).view(3, 1, 1), persistent=False)
        self.register_buffer("rgb_to_yiq", to_yiq.float(), persistent=False)
        self.register_buffer("yiq_to_rgb", torch.linalg.inv(to_yiq).float(), persistent=False)

    @torch.no_grad()
    def forward(self, video: torch.Tensor, share: list[int] | None = None) -> torch.Tensor:
        """``share[n] = m`` makes clip ``n`` reuse clip ``m``'s random parameters."""
        b, n, t, h, w, c = video.shape
        k = b * n
        device = video.device

        def draw(shape: tuple[int, ...], low: float = 0.0, high: float = 1.0) -> torch.Tensor:
            r = torch.empty((b, n) + shape, device=device).uniform_(low, high)
            if share is not None:
                r = r[:, share]
            return r.reshape((k,) + shape)

        boxes = self._boxes(draw, k, h, w, device)
        x = self._crop(video.reshape(k, t, h, w, c), boxes)  # float (K, T, C, S, S) in [0, 1]
        if self.flip_p > 0:
            flip = draw(()) < self.flip_p
            x = torch.where(flip.view(k, 1, 1, 1, 1), x.flip(-1), x)
        if any(j > 0 for j in self.jitter):
            x = self._jitter(x, draw, t)
        if self.grayscale_p > 0:
            gray = draw(()) < self.grayscale_p
            x = torch.where(gray.view(k, 1, 1, 1, 1), _gray(x, self.gray).expand_as(x), x)
        x = x.transpose(1, 2)  # (K, C, T, S, S)
        if self.normalize == "imagenet":
            x = (x - self.mean) / self.std
        elif self.normalize == "bgr255":
            x = x.flip(1) * 255
        return x.reshape(b, n, c, t, self.size, self.size)

    def _crop(self, clips: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """uint8 ``(K, T, H, W, C)`` clips cut to their ``(x0, y0, x1, y1)`` boxes -> float ``(K, T, C, S, S)``."""
        k, t, h, w, c = clips.shape
        s = self.size
        if self.crop in ("random", "center"):  # integer windows of the output size: gather the uint8 pixels
            steps = torch.arange(s, device=clips.device)
            rows = boxes[:, 1].long()[:, None] + steps  # (K, S)
            cols = boxes[:, 0].long()[:, None] + steps
            which = torch.arange(k, device=clips.device)[:, None, None]
            window = clips.permute(0, 2, 3, 1, 4)[which, rows[:, :, None], cols[:, None, :]]  # (K, S, S, T, C)
            return window.permute(0, 3, 4, 1, 2).float().div_(255)
        y0, y1, x0, x1 = 0, h, 0, w
        if self.crop == "center_square":  # the square's rows and columns, and the pixels its samples touch
            (y0, y1), (x0, x1) = _reach(h, min(h, w)), _reach(w, min(h, w))
            boxes = boxes.clone()
            boxes[:, 0::2] -= x0  # scalars, not a host-built tensor: nothing is copied to the device
            boxes[:, 1::2] -= y0
        region = clips[:, :, y0:y1, x0:x1]
        x = torch.empty((k, t, c, y1 - y0, x1 - x0), device=clips.device)
        x.copy_(region.permute(0, 1, 4, 2, 3))  # the only full-region pass: layout and dtype at once
        rois = torch.cat([torch.arange(k, device=clips.device, dtype=x.dtype)[:, None], boxes], 1)
        out = roi_align(x.view(k, t * c, y1 - y0, x1 - x0), rois, output_size=s, spatial_scale=1.0,
                        sampling_ratio=2, aligned=True)
        return out.view(k, t, c, s, s).div_(255)

    def _boxes(self, draw, k: int, h: int, w: int, device: torch.device) -> torch.Tensor:
        s = float(self.size)
        if self.crop == "random_resized":
            area = draw((), *self.scale) * (h * w)
            log_ratio = draw((), math.log(self.ratio[0]), math.log(self.ratio[1]))
            aspect = torch.exp(log_ratio)
            bw = torch.sqrt(area * aspect).clamp(1, w)
            bh = torch.sqrt(area / aspect).clamp(1, h)
            x0, y0 = draw(()) * (w - bw), draw(()) * (h - bh)
            return torch.stack([x0, y0, x0 + bw, y0 + bh], 1)
        if self.crop in ("random", "center"):
            if h < s or w < s:
                raise ConfigError(f"crop size {self.size} is larger than the decoded frames ({h}x{w}); "
                                  "raise frame_size in the data module or lower the crop size.")
            if self.crop == "random":
                x0 = torch.floor(draw(()) * (w - s + 1)).clamp(max=w - s)
                y0 = torch.floor(draw(()) * (h - s + 1)).clamp(max=h - s)
            else:
                # torchvision's CenterCrop (PRP's and VCOP's): int(round((w - s) / 2)), 30 on 171-wide frames
                x0 = torch.full((k,), float(int(round((w - self.size) / 2))), device=device)
                y0 = torch.full((k,), float(int(round((h - self.size) / 2))), device=device)
            return torch.stack([x0, y0, x0 + s, y0 + s], 1)
        if self.crop == "center_square":
            side = float(min(h, w))
            x0, y0 = (w - side) / 2, (h - side) / 2
            return _fixed_boxes(k, (x0, y0, x0 + side, y0 + side), device)
        return _fixed_boxes(k, (0.0, 0.0, float(w), float(h)), device)

    def _jitter(self, x: torch.Tensor, draw, t: int) -> torch.Tensor:
        k = x.shape[0]
        tf = t if self.jitter_per_frame else 1
        brightness, contrast, saturation, hue = self.jitter
        factors = {
            "brightness": draw((tf,), max(0.0, 1 - brightness), 1 + brightness) if brightness else None,
            "contrast": draw((tf,), max(0.0, 1 - contrast), 1 + contrast) if contrast else None,
            "saturation": draw((tf,), max(0.0, 1 - saturation), 1 + saturation) if saturation else None,
            "hue": draw((tf,), -hue, hue) if hue else None,
        }
        apply = (draw((tf,)) < self.jitter_p).view(k, tf, 1, 1, 1)
        jittered = x
        for op in random.sample(range(4), 4):  # a host-side draw (seeded with the run), no device read
            name = ("brightness", "contrast", "saturation", "hue")[op]
            f = factors[name]
            if f is None:
                continue
            f = f.view(k, tf, 1, 1, 1)
            if name == "brightness":
                jittered = (jittered * f).clamp(0, 1)
            elif name == "contrast":
                mean = _gray(jittered, self.gray).mean(dim=(-3, -2, -1), keepdim=True)
                jittered = (mean + f * (jittered - mean)).clamp(0, 1)
            elif name == "saturation":
                gray = _gray(jittered, self.gray)
                jittered = (gray + f * (jittered - gray)).clamp(0, 1)
            else:
                jittered = _rotate_hue(jittered, f * 2 * math.pi, self.rgb_to_yiq, self.yiq_to_rgb)
        return torch.where(apply, jittered, x)


def _reach(length: int, side: int) -> tuple[int, int]:
    """Pixels ``[start, stop)`` that bilinear samples of a centred span of ``side`` (of ``length``) read."""
    return max(0, math.floor((length - side) / 2) - 1), min(length, math.ceil((length + side) / 2) + 1)


def _fixed_boxes(k: int, box: tuple[float, float, float, float], device: torch.device) -> torch.Tensor:
    """The same ``(x0, y0, x1, y1)`` box for ``k`` clips, filled on the device (no host copy)."""
    return torch.stack([torch.full((k,), float(v), device=device) for v in box], 1)


def _gray(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Luma of ``(..., 3, H, W)`` frames, keeping a channel axis of size 1 (``weights``: (3, 1, 1))."""
    return (x * weights.to(x.dtype)).sum(dim=-3, keepdim=True)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor, to_yiq: torch.Tensor, to_rgb: torch.Tensor) -> torch.Tensor:
    yiq = torch.einsum("ij,...jhw->...ihw", to_yiq.to(x.dtype), x)
    cos, sin = torch.cos(angle), torch.sin(angle)
    i, q = yiq[..., 1:2, :, :], yiq[..., 2:3, :, :]
    yiq = torch.cat([yiq[..., 0:1, :, :], cos * i - sin * q, sin * i + cos * q], dim=-3)
    rgb = torch.einsum("ij,...jhw->...ihw", to_rgb.to(x.dtype), yiq)
    return rgb.clamp(0, 1)


def _yuv_to_rgb_matrix() -> tuple[tuple[float, float, float], ...]:
    """BT.601 limited range (FFmpeg's default for untagged SD/transcoded video): rows give R, G, B from
    ``(Y - 16, Cb - 128, Cr - 128)``."""
    kr, kb = _GRAY[0], _GRAY[2]
    kg = 1 - kr - kb
    ys, cs = 255 / 219, 255 / 224
    return ((ys, 0.0, cs * 2 * (1 - kr)),
            (ys, -cs * 2 * (1 - kb) * kb / kg, -cs * 2 * (1 - kr) * kr / kg),
            (ys, cs * 2 * (1 - kb), 0.0))


_YUV_TO_RGB = _yuv_to_rgb_matrix()


def _chroma_grid(height: int, width: int, out_h: int, out_w: int, device: torch.device) -> torch.Tensor:
    """``grid_sample`` coordinates of each output pixel's centre in the half-resolution chroma planes, with
    H.264's and MPEG-2's default chroma siting: a chroma sample sits on its even luma column ("left")
    and halfway between its two luma rows."""
    xs = (torch.arange(out_w, device=device, dtype=torch.float32) + 0.5) * (width / out_w)  # in luma pixels
    ys = (torch.arange(out_h, device=device, dtype=torch.float32) + 0.5) * (height / out_h)
    # chroma sample k is centred on luma x = 2k + 0.5 and y = 2k + 1; grid_sample's -1..1 spans the
    # samples' outer edges (align_corners=False), i.e. sample k at (k + 0.5) / (size / 2) * 2 - 1
    gx = (xs + 0.5) / width * 2 - 1
    gy = ys / height * 2 - 1
    grid_y, grid_x = torch.meshgrid(gy, gx, indexing="ij")
    return torch.stack([grid_x, grid_y], -1)


@torch.no_grad()
def yuv420_to_rgb(frames: torch.Tensor, size: Size = None) -> torch.Tensor:
    """uint8 4:2:0 frames ``(..., H * 3 // 2, W)`` as ``read_frames(..., pixels="yuv420p")`` gives them ->
    uint8 RGB ``(..., H', W', 3)`` at ``size`` (``None``: the stored size; an int: the short side; a pair:
    exact), on the frames' device: the conversion and resizing that the loader's CPU does for
    ``pixels="rgb24"``, done where the batch is.

    Each plane is resampled bilinearly straight to the output size (the chroma from its half resolution,
    sited as H.264 sites it), then BT.601 limited-range YUV is mapped to RGB. When resizing, this gives
    ``swscale``'s pixels (``read_frames(..., size=)``) to within one level; at the stored size
    ``swscale`` repeats each chroma sample instead of interpolating, so colour edges differ there.
    """
    *lead, rows, width = frames.shape
    height = rows * 2 // 3
    out_h, out_w = output_size(width, height, size)
    y, u, v = yuv420_planes(frames, height, width)
    n = math.prod(lead)
    luma = y.reshape(n, 1, height, width).float()
    chroma = torch.stack([u.reshape(n, height // 2, width // 2), v.reshape(n, height // 2, width // 2)], 1).float()
    shrink = out_h < height or out_w < width  # swscale widens its bilinear filter when it shrinks: so do we
    if (out_h, out_w) != (height, width):
        luma = F.interpolate(luma, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=shrink)
    if out_h < height // 2 or out_w < width // 2:  # smaller than the chroma planes: filter them as the luma
        chroma = F.interpolate(chroma, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    else:
        grid = _chroma_grid(height, width, out_h, out_w, frames.device).expand(n, out_h, out_w, 2)
        chroma = F.grid_sample(chroma, grid, mode="bilinear", padding_mode="border", align_corners=False)
    (scale, _, r_cr), (_, g_cb, g_cr), (_, b_cb, _) = _YUV_TO_RGB  # python scalars: nothing copied to the device
    luma = (luma - 16) * scale
    cb, cr = chroma[:, :1] - 128, chroma[:, 1:] - 128
    rgb = torch.cat([luma + r_cr * cr, luma + g_cb * cb + g_cr * cr, luma + b_cb * cb], 1)
    return rgb.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).reshape(*lead, out_h, out_w, 3)


def batch_frames(batch: dict) -> torch.Tensor:
    """The batch's uint8 RGB frames ``(B, N, T, H, W, 3)``, at the data module's ``frame_size``.

    A batch of RGB (``batch["video"]``) is returned as it is. A batch of 4:2:0 planes (the data module's
    ``pixels="yuv420p"``: ``batch["yuv420p"]`` ``(B, N, T, L)``, each video's planes flattened and padded to
    the batch's longest, with ``batch["stored_size"]``, each video's ``(H, W)`` as host integers) is
    converted and resized by :func:`yuv420_to_rgb` where the batch is, one call per stored size in the
    batch (grouped on the host: nothing is read back from the device); the result replaces the planes.
    """
    if "yuv420p" not in batch:
        return batch["video"]
    planes, sizes, size = batch.pop("yuv420p"), batch.pop("stored_size"), batch.pop("frame_size")
    b, n, t, _ = planes.shape
    groups: dict[tuple[int, int], list[int]] = {}
    for i, hw in enumerate(sizes):
        groups.setdefault((int(hw[0]), int(hw[1])), []).append(i)
    video = None
    for (h, w), rows in groups.items():
        length = h * w * 3 // 2
        part = planes[..., :length] if len(rows) == b else torch.stack([planes[i, ..., :length] for i in rows])
        rgb = yuv420_to_rgb(part.reshape(len(rows), n, t, h * 3 // 2, w), size)
        if len(groups) == 1:
            video = rgb
            break
        if video is None:
            video = rgb.new_empty((b, *rgb.shape[1:]))
        for j, i in enumerate(rows):
            video[i] = rgb[j]
    batch["video"] = video
    return video

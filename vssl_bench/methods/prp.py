"""PRP: Video Playback Rate Perception (Yao et al., CVPR 2020), as in the official code.

Dilated sampling. A rate s is drawn from {1, 2, 4, 8}; from a random start, 16 s consecutive frames
are read and every s-th forms the 16-frame input. The network has two branches on the backbone's
last map:

* discriminative: conv3d + BN + ReLU -> global pool -> fc(D, 4) classifies the rate (cross-entropy);
  its fc is trained at 10x the base learning rate;
* generative: a decoder of four 2x transposed-convolution stages reconstructs the clip at twice the
  input frame rate (32 frames): the input frames interleaved with the frames between them (at stride
  s/2). For s = 1 there is no real frame between two inputs; the code fills it with the mean of its
  neighbours and leaves it out of the loss, and so do we.

Motion attention: the squared reconstruction error is weighted by a map of where the video moves, as
the official code builds it: one mask per chunk of 16 consecutive *raw* frames of the span the input
covers (s masks at rate s), from the chunk's frames 0/5/10/15 (squared differences, pooled, min-max
scaled to [0.8, 2.0], upsampled; ``chunk_motion_masks``); chunk i weighs the i-th s-th of the 32 target
frames. The sampler ships those raw keyframes as extra clips. Loss = weighted MSE (a mean per sample, then over
the batch) + 0.1 x CE. No augmentation besides resize 128x171 and a centre 112 crop; input in [0, 1]
without mean/std. Optimisation as the official code: 800 training videos held out, the learning rate
cut by 10 after 50 epochs without a lower held-out loss, the checkpoint with the lowest held-out loss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vssl_bench.data.sampling import VideoTooShort, prp_start, strided_clip
from vssl_bench.methods.base import PretextMethod
from vssl_bench.methods.losses import chunk_motion_masks, motion_keyframes, weighted_reconstruction

PRP_AUGMENT: dict[str, Any] = {"crop": "center", "flip_p": 0.0, "normalize": "unit"}


@dataclass(frozen=True)
class DilatedSampler:
    """Clips [input, between, motion...]: the input frames (stride s), the frames halfway between them
    (stride s from s/2; for s = 1 the next frame, a placeholder the loss ignores) and the raw frames the
    motion attention compares: for each of the s chunks of ``clip_len`` consecutive frames the input
    spans, its frames 0, 5, 10, 15 (``motion_keyframes``), packed chunk after chunk into
    ``ceil(4 max(rates) / clip_len)`` clips and padded with the start frame. Targets ``rate`` (index
    into ``rates``) and ``between_real`` (1 when the between-frames are real frames).

    The start is the official one (``prp_start``). A video with fewer than ``clip_len * s + 1`` frames
    for the drawn rate s raises ``VideoTooShort`` before any start is drawn: the official loader keeps
    the rate and reads another video, and so does the data module, with ``resample`` (this sampler
    with ``rate_index`` fixed to the drawn rate). ``wrapped`` holds the clips read from frame 0 wrapping
    around, used only when no video of the set is long enough for the rate."""

    clip_len: int = 16
    rates: tuple[int, ...] = (1, 2, 4, 8)
    rate_index: int | None = None  # the rate drawn already (a replacement video keeps it); None: draw one

    def __call__(self, num_frames: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        index = int(rng.integers(len(self.rates))) if self.rate_index is None else self.rate_index
        s = self.rates[index]
        targets = {"rate": index, "between_real": int(s >= 2)}
        span = self.clip_len * s
        if num_frames < span + 1:  # the official loader asks for one frame more than it reads
            raise VideoTooShort(span + 1, num_frames, replace(self, rate_index=index),
                                (self.clips(0, s, num_frames), targets))
        return self.clips(prp_start(num_frames, span, rng), s, num_frames), targets

    def clips(self, start: int, s: int, num_frames: int) -> list[np.ndarray]:
        """The index arrays of one sample at rate ``s`` from ``start``."""
        length = self.clip_len
        inputs = strided_clip(start, length, s, num_frames)
        between = strided_clip(start + (s // 2 if s >= 2 else 1), length, s, num_frames)
        chunks = np.arange(s)[:, None] * length + np.asarray(motion_keyframes(length))[None]  # (s, 4)
        slots = -(-4 * max(self.rates) // length) * length
        motion = np.zeros(slots, dtype=np.int64)
        motion[:chunks.size] = chunks.ravel()
        motion = (start + motion) % num_frames
        return [inputs, between, *motion.reshape(-1, length)]


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class FrameRateDecoder(nn.Module):
    """conv -> 3 x [2x transposed conv + conv] halving channels -> 2x transposed conv -> conv to RGB."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        c = [dim, max(1, dim // 2), max(1, dim // 4), max(1, dim // 8)]
        layers: list[nn.Module] = [_conv(c[0], c[0])]
        for cin, cout in zip(c[:-1], c[1:]):
            layers += [nn.ConvTranspose3d(cin, cin, 2, stride=2), _conv(cin, cout)]
        layers += [nn.ConvTranspose3d(c[3], c[3], 2, stride=2), _conv(c[3], 3)]  # BN + ReLU: output >= 0
        self.net = nn.Sequential(*layers)

    def forward(self, fmap: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
        out = self.net(fmap)
        if tuple(out.shape[2:]) != size:  # backbones whose map is not (T/8, S/16) of the input
            out = F.interpolate(out, size=size, mode="trilinear", align_corners=False)
        return out


class PRP(PretextMethod):
    def __init__(self, *args: Any, rates: tuple[int, ...] = (1, 2, 4, 8), cls_weight: float = 0.1,
                 fc_lr_mult: float = 10.0, **kwargs: Any) -> None:
        kwargs.setdefault("augment", PRP_AUGMENT)
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()
        dim = self.backbone.feature_dim
        self.rate_conv = _conv(dim, dim)
        self.rate_fc = nn.Linear(dim, len(rates))
        self.decoder = FrameRateDecoder(dim)
        self.head_lr_mult = fc_lr_mult
        # the rates on the module's device (indexed by the rate label in every step, without a host copy)
        self.register_buffer("rate_values", torch.tensor(rates), persistent=False)

    @property
    def sampler(self) -> DilatedSampler:
        return DilatedSampler(self.hparams.clip_len, tuple(self.hparams.rates))

    def chance_levels(self, per_device_batch: int) -> dict[str, float]:
        """Accuracy of a guess: one rate of ``rates``."""
        return {"acc/rate": 1 / len(self.hparams.rates)}

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.rate_fc.parameters())

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """The pretext loss on held-out videos (``data.heldout``): what the official code's plateau
        schedule and checkpoint choice follow."""
        out = self.pretext_step(batch)
        size = batch["video"].shape[0]
        self.log("val/loss", out["loss"], batch_size=size, sync_dist=True)
        self.log("val/acc/rate", out["acc/rate"], batch_size=size, sync_dist=True)

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        video, targets = batch["video"], batch["targets"]
        inputs, between = video[:, 0], video[:, 1]  # (B, C, T, S, S)
        b, c, t, h, w = inputs.shape
        fmap = self.encode(inputs, return_map=True)
        logits = self.rate_fc(self.rate_conv(fmap).mean(dim=(2, 3, 4)))
        ce = F.cross_entropy(logits.float(), targets["rate"])
        real = targets["between_real"].bool()
        fake = 0.5 * (inputs + torch.cat([inputs[:, :, 1:], inputs[:, :, -1:]], 2))  # neighbour mean (s = 1)
        between = torch.where(real.view(b, 1, 1, 1, 1), between, fake)
        target = torch.stack([inputs, between], 3).reshape(b, c, 2 * t, h, w)  # interleave: 2x frame rate
        frame_mask = torch.ones(b, 2 * t, device=target.device)
        frame_mask[:, 1::2] = real.float()[:, None]
        with torch.no_grad():
            weight = self.motion_weight(video[:, 2:], targets["rate"], 2 * t)
        recon = self.decoder(fmap, (2 * t, h, w))
        reconstruction = weighted_reconstruction(recon, target, weight, frame_mask)
        loss = reconstruction + self.hparams.cls_weight * ce
        return {
            "loss": loss,
            "loss/reconstruction": reconstruction.detach(),
            "loss/rate": ce.detach(),
            "acc/rate": (logits.argmax(1) == targets["rate"]).float().mean(),
        }

    def motion_weight(self, motion: torch.Tensor, rate: torch.Tensor, frames: int) -> torch.Tensor:
        """The official motion attention of the ``frames``-frame target: ``motion`` (B, M, C, T, H, W)
        holds the sampler's motion keyframes; chunk i of a rate-s sample (raw frames i T .. (i+1) T - 1)
        weighs target frames i frames/s .. (i+1) frames/s - 1 (the official code stretches each chunk's
        mask over its share of the target, ``interpolate`` of a one-frame mask)."""
        b, m, c, t, h, w = motion.shape
        slots = max(self.hparams.rates)
        keyframes = motion.transpose(1, 2).reshape(b, c, m * t, h, w)[:, :, :4 * slots]
        masks = chunk_motion_masks(keyframes.reshape(b, c, slots, 4, h, w))  # (B, C, slots, H, W)
        s = self.rate_values[rate]
        chunk = torch.arange(frames, device=motion.device)[None] * s[:, None] // frames  # (B, frames)
        return masks.gather(2, chunk[:, None, :, None, None].expand(b, c, frames, h, w))

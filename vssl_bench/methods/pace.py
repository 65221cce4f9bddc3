"""Pace Prediction (Wang, Jiao, Liu, ECCV 2020).

Pretext task, as in the official code: a clip of ``clip_len`` frames is sampled with a random pace
p in {1, ..., max_pace} (every p-th frame) from a uniformly random start; when the next frame would
lie past the end the clip restarts at the first frame, at the same pace. The network classifies the
pace (``max_pace`` classes) with cross-entropy. Augmentation: resize 128x171, random 112 crop, flip, and colour jitter
(0.8, 0.8, 0.8, 0.2) with p = 0.8 redrawn for every frame so colour cannot reveal the pace; the
input is BGR in 0..255 without normalisation (OpenCV frames).

The paper adds a contrastive term that the official code never released. ``contrastive`` offers it:
``same_context`` (two clips of one video at different paces are positives, the paper's chosen
variant) or ``same_pace`` (clips with the same pace are positives), each an InfoNCE over the batch
with projection heads; ``contrastive_weight`` and ``temperature`` are not verified against the paper
and default to 1.0 and 0.5. With ``contrastive="none"`` (default) this is the released code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vssl_bench.data.sampling import restarting_clip
from vssl_bench.errors import ConfigError
from vssl_bench.methods.base import PretextMethod
from vssl_bench.methods.heads import LinearHead

PACE_AUGMENT: dict[str, Any] = {"crop": "random", "flip_p": 0.5, "jitter": (0.8, 0.8, 0.8, 0.2), "jitter_p": 0.8,
                                "jitter_per_frame": True, "normalize": "bgr255"}


@dataclass(frozen=True)
class PaceSampler:
    """``num_clips`` clips, each with its own pace; target ``pace`` = pace - 1 per clip. The start is
    uniform over all frames and the clip restarts at frame 0 past the end (``restarting_clip``), as the
    official ``loop_load_rgb``."""

    clip_len: int = 16
    max_pace: int = 4
    num_clips: int = 1
    distinct: bool = True  # with two clips, give them different paces (same-context positives)

    def __call__(self, num_frames: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        if self.distinct and self.num_clips <= self.max_pace:
            paces = rng.choice(np.arange(1, self.max_pace + 1), size=self.num_clips, replace=False)
        else:
            paces = rng.integers(1, self.max_pace + 1, size=self.num_clips)
        clips = [restarting_clip(int(rng.integers(0, num_frames)), self.clip_len, int(p), num_frames) for p in paces]
        return clips, {"pace": (paces - 1).astype(np.int64)}


class Pace(PretextMethod):
    def __init__(self, *args: Any, max_pace: int = 4,
                 contrastive: Literal["none", "same_context", "same_pace"] = "none",
                 contrastive_weight: float = 1.0, temperature: float = 0.5, proj_dim: int = 128,
                 **kwargs: Any) -> None:
        kwargs.setdefault("augment", PACE_AUGMENT)
        super().__init__(*args, **kwargs)
        if contrastive not in ("none", "same_context", "same_pace"):
            raise ConfigError(f"contrastive={contrastive!r}: use none, same_context or same_pace.")
        if max_pace < 2:
            raise ConfigError(f"max_pace={max_pace}: need at least two paces to predict.")
        self.save_hyperparameters()
        self.classifier = nn.Linear(self.backbone.feature_dim, max_pace)
        self.projection = LinearHead(self.backbone.feature_dim, proj_dim) if contrastive != "none" else None

    @property
    def sampler(self) -> PaceSampler:
        two = self.hparams.contrastive != "none"
        return PaceSampler(self.hparams.clip_len, self.hparams.max_pace, 2 if two else 1,
                           distinct=self.hparams.contrastive == "same_context")

    def chance_levels(self, per_device_batch: int) -> dict[str, float]:
        """Accuracy of a guess: one pace of ``max_pace``."""
        return {"acc/pace": 1 / self.hparams.max_pace}

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        video, pace = batch["video"], batch["targets"]["pace"]  # (B, N, ...), (B, N)
        b, n = video.shape[:2]
        features = self.encode(video.flatten(0, 1))
        logits = self.classifier(features)
        labels = pace.reshape(-1)
        ce = F.cross_entropy(logits.float(), labels)
        out = {"loss/pace": ce.detach(), "acc/pace": (logits.argmax(1) == labels).float().mean()}
        loss = ce
        if self.projection is not None:
            z = self.projection(features).float().view(b, n, -1)
            if self.hparams.contrastive == "same_context":
                positives = torch.arange(b, device=z.device).repeat_interleave(n)
            else:
                positives = labels
            contrast = _supervised_nce(z.reshape(b * n, -1), positives, self.hparams.temperature)
            loss = loss + self.hparams.contrastive_weight * contrast
            out["loss/contrastive"] = contrast.detach()
        return {"loss": loss, **out}


def _supervised_nce(z: torch.Tensor, groups: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE where every other sample of the same group is a positive (averaged over positives)."""
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    positive = (groups[:, None] == groups[None, :]) & ~eye
    log_prob = sim.log_softmax(1).masked_fill(~positive, 0.0)
    has = positive.any(1).float()  # rows without a positive weigh nothing (a weighted mean, no host read)
    per_row = log_prob.sum(1) / positive.sum(1).clamp(min=1)
    return -(per_row * has).sum() / has.sum().clamp(min=1.0)

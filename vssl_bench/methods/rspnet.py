"""RSPNet: Relative Speed Perception (Chen et al., AAAI 2021), as in the official code.

Sampling. Each video gives two windows of ``2 x clip_len`` consecutive frames at random starts. A
speed s in {1x, 2x} is drawn per video: the query q is window 1 at speed s (1x: its first
``clip_len`` frames; 2x: every second frame), the key k is window 2 at the same speed, and the
speed-negative key k- is window 2 at the other speed. k and k- share one crop and one colour draw.

Relative speed perception (M head). Scores s+ = <q_M, k_M>/T (same speed, different windows) and
s- = <q_M, k-_M>/T (different speed) are pushed apart by a margin ranking loss
max(0, margin - (s+ - s-)) with margin 2.0 on the temperature-scaled scores, as the official code.

Appearance-focused video instance discrimination (A head). Two InfoNCE terms against a MoCo queue:
q_A against k_A (same speed) and q_A against k-_A (other speed): clips of one video are positives
whatever their speed. The queue is filled with k-_A, gathered from every rank.

Keys come from a momentum encoder (m = 0.999) run with shuffling BN across ranks; the official code
refuses to run on one GPU for want of it, so on one process the key batch is shuffled and split into
``shuffle_groups`` parts normalised separately (single-GPU MoCo's emulation, logged). Both heads are
``Linear(D, 128)`` on the pooled backbone feature, L2-normalised. Loss = A (CE1 + CE2) + M ranking
with A = M = 1. Queue 16384, T = 0.07. The paper describes the ranking as a triplet loss over three
clips; the code's batched form above is what produced the reported numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vssl_bench.data.sampling import random_start, strided_clip
from vssl_bench.methods.base import PretextMethod
from vssl_bench.methods.heads import FeatureQueue, LinearHead, ema_update, momentum_copy, shuffled_forward
from vssl_bench.methods.losses import info_nce, margin_ranking

log = logging.getLogger(__name__)
_told: set[str] = set()  # how shuffling BN runs is said once per process (a sweep builds many models)


@dataclass(frozen=True)
class TwoSpeedSampler:
    """Two windows of ``speed_ratio x clip_len`` frames; clips [q, k, k_neg]; target ``speed`` (0 = 1x).

    Also used by ASCNet with ``same_speed_key=False``: it reads only [q, k_neg] (the same video at two
    speeds), so the clip it would never use is neither decoded nor augmented."""

    clip_len: int = 16
    speed_ratio: int = 2
    same_speed_key: bool = True

    def window(self, num_frames: int, rng: np.random.Generator) -> int:
        return random_start(num_frames, self.speed_ratio * self.clip_len, rng)

    def at_speed(self, start: int, fast: bool, num_frames: int) -> np.ndarray:
        return strided_clip(start, self.clip_len, self.speed_ratio if fast else 1, num_frames)

    def __call__(self, num_frames: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        fast = bool(rng.integers(2))
        w1, w2 = self.window(num_frames, rng), self.window(num_frames, rng)
        clips = [self.at_speed(w1, fast, num_frames), self.at_speed(w2, fast, num_frames),
                 self.at_speed(w2, not fast, num_frames)]
        if not self.same_speed_key:
            del clips[1]
        return clips, {"speed": int(fast)}


class RSPNet(PretextMethod):
    """Args (besides :class:`PretextMethod`'s): ``proj_dim`` 128, ``queue_size`` 16384,
    ``key_momentum`` 0.999, ``temperature`` 0.07, ``margin`` 2.0, ``weight_a``/``weight_m`` 1.0,
    ``speed_ratio`` 2 (speeds 1x and 2x), ``shuffle_groups`` 4 (one-process shuffling-BN emulation)."""

    own_batchnorm_groups = True  # shuffling BN (MoCo's): the key batch is normalised in shuffled groups

    def __init__(self, *args: Any, proj_dim: int = 128, queue_size: int = 16384, key_momentum: float = 0.999,
                 temperature: float = 0.07, margin: float = 2.0, weight_a: float = 1.0, weight_m: float = 1.0,
                 speed_ratio: int = 2, shuffle_groups: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()
        dim = self.backbone.feature_dim
        self.head_a = LinearHead(dim, proj_dim)
        self.head_m = LinearHead(dim, proj_dim)
        self.key_backbone = momentum_copy(self.backbone)
        self.key_head_a = momentum_copy(self.head_a)
        self.key_head_m = momentum_copy(self.head_m)
        self.queue = FeatureQueue(queue_size, proj_dim)
        self.share_augment = [0, 1, 1]  # k and k_neg: one crop, one colour draw

    @property
    def sampler(self) -> TwoSpeedSampler:
        return TwoSpeedSampler(self.hparams.clip_len, self.hparams.speed_ratio)

    def chance_levels(self, per_device_batch: int) -> dict[str, float]:
        """Speed ranking: is the same-speed key closer than the other-speed one (a coin flip);
        instance discrimination: the key among itself and the queue."""
        return {"acc/rsp": 0.5, "acc/avid": 1 / (1 + self.hparams.queue_size)}

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.trainer.world_size > 1:
            self.protocol_notes["shuffle_bn"] = f"across {self.trainer.world_size} ranks"
        else:
            self.protocol_notes["shuffle_bn"] = (f"emulated on one process: keys shuffled, {self.hparams.shuffle_groups} "
                                                 "groups normalised separately")
        if self.protocol_notes["shuffle_bn"] not in _told:
            _told.add(self.protocol_notes["shuffle_bn"])
            # the record keeps it (protocol_notes); the screen of a sweep run in one process does not
            log.debug("RSPNet shuffling BN: %s", self.protocol_notes["shuffle_bn"])

    def _keys(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def encoder(x: torch.Tensor) -> torch.Tensor:
            f = self.key_backbone(self.in_layout(x))
            return torch.cat([self.key_head_a(f), self.key_head_m(f)], 1)

        out = shuffled_forward(encoder, clips, groups=self.hparams.shuffle_groups)
        d = self.hparams.proj_dim
        return out[:, :d], out[:, d:]

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        video = batch["video"]  # (B, 3 clips, C, T, S, S)
        features = self.encode(video[:, 0])
        q_a, q_m = self.head_a(features), self.head_m(features)
        with torch.no_grad():
            ema_update(((self.key_backbone, self.backbone), (self.key_head_a, self.head_a),
                        (self.key_head_m, self.head_m)), hp.key_momentum)
            kn_a, kn_m = self._keys(video[:, 2])  # k- first, as the official code (the key BN statistics)
            k_a, k_m = self._keys(video[:, 1])
        negatives = self.queue.features.clone().detach()
        ce_same, logits = info_nce(q_a, k_a, negatives, hp.temperature)
        ce_other, _ = info_nce(q_a, kn_a, negatives, hp.temperature)
        s_pos = (q_m.float() * k_m.float()).sum(1) / hp.temperature
        s_neg = (q_m.float() * kn_m.float()).sum(1) / hp.temperature
        ranking = margin_ranking(s_pos, s_neg, hp.margin)
        self.queue.enqueue(kn_a)
        loss = hp.weight_a * (ce_same + ce_other) + hp.weight_m * ranking
        return {
            "loss": loss,
            "loss/avid_same_speed": ce_same.detach(),
            "loss/avid_other_speed": ce_other.detach(),
            "loss/rsp_ranking": ranking.detach(),
            "acc/rsp": (s_pos > s_neg).float().mean(),
            "acc/avid": (logits.argmax(1) == 0).float().mean(),
        }

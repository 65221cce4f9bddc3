"""ASCNet: Appearance-Speed Consistency (Huang et al., ICCV 2021). No official code exists; this
follows the paper's method section, with the unpublished details filled in as stated below.

Clips are drawn as in RSPNet (two windows per video, played at 1x and 2x). One encoder f maps a
clip to an appearance embedding a and a speed embedding m through two projection heads.

* Appearance Consistency Perception (ACP): two clips of the *same video at different speeds* should
  have the same appearance: L_a = || a'_j - a_j ||^2 between the online branch's prediction for one
  clip and the target branch's appearance of the other (both L2-normalised), symmetrised.
* Speed Consistency Perception (SCP): for each clip, the memory bank is searched for the clip of
  *another video* with the *same speed* and the most similar target appearance (top-1 cosine); the
  online speed prediction is pulled to that clip's target speed embedding: L_m = || m'_j - m_j ||^2.

There are no negatives: as in BYOL, an online predictor and a momentum target branch avoid
collapse. Assumed, since the paper's details are not public here: MLP projectors and predictors
(hidden 512 for width 1, output 128), target momentum 0.99, a FIFO bank of 4096 target embeddings
tagged with speed and video, L = L_a + L_m, RSPNet's augmentation.
"""

from __future__ import annotations

from typing import Any

import torch

from vssl_bench.methods.base import PretextMethod
from vssl_bench.methods.heads import FeatureQueue, MLPHead, ema_update, momentum_copy
from vssl_bench.methods.losses import normalized_l2
from vssl_bench.methods.rspnet import TwoSpeedSampler


class ASCNet(PretextMethod):
    def __init__(self, *args: Any, proj_dim: int = 128, hidden_dim: int = 512, target_momentum: float = 0.99,
                 bank_size: int = 4096, weight_a: float = 1.0, weight_m: float = 1.0, speed_ratio: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()
        dim = self.backbone.feature_dim
        self.project_a, self.project_m = MLPHead(dim, hidden_dim, proj_dim), MLPHead(dim, hidden_dim, proj_dim)
        self.predict_a, self.predict_m = (MLPHead(proj_dim, hidden_dim, proj_dim),
                                          MLPHead(proj_dim, hidden_dim, proj_dim))
        self.target_backbone = momentum_copy(self.backbone)
        self.target_a, self.target_m = momentum_copy(self.project_a), momentum_copy(self.project_m)
        # bank rows: target appearance | target speed; tags: (speed, video index)
        self.bank = FeatureQueue(bank_size, 2 * proj_dim, tags=2)

    @property
    def sampler(self) -> TwoSpeedSampler:
        return TwoSpeedSampler(self.hparams.clip_len, self.hparams.speed_ratio, same_speed_key=False)

    def chance_levels(self, per_device_batch: int) -> dict[str, float]:
        """Appearance match: the partner clip among the device's 2 x batch clips. Speed match: a clip
        of the same speed among the other videos' 2 x (batch - 1) clips, half of which share its speed."""
        return {"acc/appearance_match": 1 / (2 * per_device_batch), "acc/speed_match": 0.5}

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        video = batch["video"]  # clips [window1 @ s, window2 @ the other speed]: one video, two speeds
        b = video.shape[0]
        fast = batch["targets"]["speed"]
        clips = torch.cat([video[:, 0], video[:, 1]])
        speeds = torch.cat([fast, 1 - fast])
        videos = torch.cat([batch["index"], batch["index"]])
        features = self.encode(clips)
        pred_a = self.predict_a(self.project_a(features))
        pred_m = self.predict_m(self.project_m(features))
        with torch.no_grad():
            ema_update(((self.target_backbone, self.backbone), (self.target_a, self.project_a),
                        (self.target_m, self.project_m)), hp.target_momentum)
            t_feat = self.target_backbone(self.in_layout(clips))
            t_a = torch.nn.functional.normalize(self.target_a(t_feat).float(), dim=1)
            t_m = torch.nn.functional.normalize(self.target_m(t_feat).float(), dim=1)
        swapped = torch.cat([t_a[b:], t_a[:b]])  # each clip's partner: same video, other speed
        loss_a = normalized_l2(pred_a, swapped).mean()
        loss_m, matched = self._speed_consistency(pred_m, t_a, speeds, videos)
        self.bank.enqueue(torch.cat([t_a, t_m], 1).to(self.bank.features.dtype), torch.stack([speeds, videos], 1))
        with torch.no_grad():
            # ACP: does each clip's appearance prediction pick its partner among the batch's targets?
            sim = torch.nn.functional.normalize(pred_a.float(), dim=1) @ swapped.T
            acc = (sim.argmax(1) == torch.arange(2 * b, device=sim.device)).float().mean()
            # SCP: among the target speed embeddings of the batch's *other* videos, is the one nearest
            # to each clip's speed prediction of the same speed? What the speed head has learnt,
            # beside its loss (its own video's clips are left out: they would match by appearance).
            sim_m = torch.nn.functional.normalize(pred_m.float(), dim=1) @ t_m.T
            sim_m = sim_m.masked_fill(videos[:, None] == videos[None, :], float("-inf"))
            speed_acc = (speeds[sim_m.argmax(1)] == speeds).float().mean()
        return {
            "loss": hp.weight_a * loss_a + hp.weight_m * loss_m,
            "loss/appearance": loss_a.detach(),
            "loss/speed": loss_m.detach(),
            "acc/appearance_match": acc,
            "acc/speed_match": speed_acc,
            "scp/matched_fraction": matched,
        }

    def _speed_consistency(self, pred_m: torch.Tensor, t_a: torch.Tensor, speeds: torch.Tensor,
                           videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.hparams.proj_dim
        bank = self.bank.features.detach().float()
        bank_a, bank_m = bank[:, :d], bank[:, d:]
        tags = self.bank.tags
        allowed = (tags[None, :, 0] == speeds[:, None]) & (tags[None, :, 1] != videos[:, None])
        sim = (t_a @ bank_a.T).masked_fill(~allowed, float("-inf"))
        best = sim.argmax(1)
        has = allowed.any(1).float()  # rows with no same-speed video in the bank weigh nothing
        per_row = normalized_l2(pred_m, bank_m[best])
        loss = (per_row * has).sum() / has.sum().clamp(min=1.0)  # a weighted mean: no host read of ``has``
        return loss, has.mean()

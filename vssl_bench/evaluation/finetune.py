"""Supervised fine-tuning (or a linear probe) with video-level evaluation.

Training sees one clip per video with the recipe's augmentation. Evaluation takes N evenly spaced
clips per video (the data module), crops them centrally, averages the clip logits per video (the
papers average logits, not probabilities) and reports top-1/top-5 over videos. Under DDP the
predictions of all ranks are gathered and de-duplicated by video index, so a test video padded onto
two ranks is still counted once. Videos that failed to decode are left out and counted.
"""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_accuracy

from vssl_bench.backbones import build_backbone, check_training_precision
from vssl_bench.data.transforms import ClipAugment, batch_frames
from vssl_bench.errors import ConfigError
from vssl_bench.evaluation.checkpoints import load_backbone
from vssl_bench.evaluation.distributed import first_occurrence
from vssl_bench.methods.optim import make_optimizer


class FineTuner(pl.LightningModule):
    """Args:
        backbone, backbone_width, bn_momentum: as in pretraining.
        num_classes: classes of the downstream dataset.
        init: a pretraining ``.ckpt`` or ``state_dict`` file; ``None`` trains from scratch.
        linear_probe: freeze the backbone (in eval mode) and train only the classifier.
        crop_size: network input size.
        train_augment: :class:`ClipAugment` arguments for training clips.
        eval_crop: ``center`` (VCOP/PRP) or ``center_square`` (RSPNet) for evaluation clips.
        normalize: input normalisation; must match the pretraining recipe.
        optimizer: ``sgd`` (every paper's protocol) or ``adam`` (the quick scale: narrow networks
            learn the synthetic data far faster with it).
        lr, momentum, weight_decay, schedule, milestones, gamma: the optimiser and its per-epoch schedule.
        eta_min_ratio: where the cosine schedule ends, as a fraction of ``lr`` (RSPNet: 1/1000).
        dropout: before the classifier.
    """

    def __init__(
        self,
        backbone: str = "r3d10",
        backbone_width: float = 1.0,
        bn_momentum: float | None = None,
        num_classes: int = 101,
        init: str | None = None,
        init_format: str = "auto",
        linear_probe: bool = False,
        crop_size: int = 112,
        train_augment: dict[str, Any] | None = None,
        eval_crop: Literal["center", "center_square"] = "center",
        normalize: Literal["imagenet", "unit", "bgr255"] = "imagenet",
        optimizer: Literal["sgd", "adam"] = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        schedule: Literal["cosine", "step", "constant"] = "cosine",
        milestones: list[int] | None = None,
        gamma: float = 0.1,
        eta_min_ratio: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer={optimizer!r}: use sgd or adam.")
        if schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule={schedule!r}: use cosine, step or constant.")
        self.save_hyperparameters()
        self.backbone = build_backbone(backbone, width=backbone_width, bn_momentum=bn_momentum)
        self.loaded_tensors = load_backbone(self.backbone, init, init_format, backbone) if init else 0
        if linear_probe:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            self.backbone.eval()  # Lightning does not switch modes at fit start; train() below keeps it
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.backbone.feature_dim, num_classes))
        augment = {"crop": "random_resized", "scale": (0.25, 1.0), "flip_p": 0.5} | (train_augment or {})
        self.train_augment = ClipAugment(size=crop_size, normalize=normalize, **augment)
        self.eval_augment = ClipAugment(size=crop_size, crop=eval_crop, flip_p=0.0, normalize=normalize)
        self._outputs: list[dict[str, torch.Tensor]] = []
        self.results: dict[str, float] = {}

    def train(self, mode: bool = True) -> FineTuner:
        """A linear probe keeps its backbone in eval mode (frozen BatchNorm statistics too), whatever
        Lightning switches around validation."""
        super().train(mode)
        if self.hparams.linear_probe:
            self.backbone.eval()
        return self

    def on_fit_start(self) -> None:
        check_training_precision(self.device, self.trainer.precision)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        augment = self.train_augment if self.trainer.training else self.eval_augment
        batch["video"] = augment(batch_frames(batch))  # 4:2:0 planes converted here first
        return batch

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(clips))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch["video"][:, 0])
        loss = F.cross_entropy(logits.float(), batch["label"])
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        metrics = {"train/loss": loss, "train/top1": acc}
        self.log_dict(metrics, prog_bar=True, batch_size=len(logits))  # each step: this rank's, no all-reduce
        self.log_dict({k.replace("train/", "train/epoch_"): v for k, v in metrics.items()}, on_step=False,
                      on_epoch=True, batch_size=len(logits), sync_dist=True)  # reduced once per epoch
        return loss

    def _eval_step(self, batch: dict[str, Any]) -> None:
        b, n = batch["video"].shape[:2]
        logits = self(batch["video"].flatten(0, 1)).float().view(b, n, -1).mean(1)
        self._outputs.append({"index": batch["index"], "logits": logits, "label": batch["label"],
                              "valid": batch["valid"]})

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def _video_metrics(self, prefix: str) -> None:
        if not self._outputs:
            return
        local = {k: torch.cat([o[k] for o in self._outputs]) for k in self._outputs[0]}
        self._outputs.clear()
        gathered = {k: self.all_gather(v).reshape(-1, *v.shape[1:]) for k, v in local.items()}
        first = first_occurrence(gathered["index"])  # one row per video
        keep = first & gathered["valid"].bool()
        logits, labels = gathered["logits"][keep], gathered["label"][keep]
        classes = self.hparams.num_classes
        metrics = {
            f"{prefix}/loss": F.cross_entropy(logits, labels) if len(labels) else torch.tensor(float("nan")),
            f"{prefix}/top1": multiclass_accuracy(logits, labels, classes, top_k=1, average="micro"),
            f"{prefix}/top5": multiclass_accuracy(logits, labels, classes, top_k=min(5, classes), average="micro"),
            f"{prefix}/videos": torch.tensor(float(keep.sum())),
            f"{prefix}/undecodable_videos": torch.tensor(float((first & ~gathered["valid"].bool()).sum())),
        }
        self.log_dict(metrics, sync_dist=False)  # gathered already: every rank holds the same values
        self.results.update({k: float(v) for k, v in metrics.items()})

    def on_validation_epoch_end(self) -> None:
        self._video_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._video_metrics("test")

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        opt = make_optimizer(hp.optimizer, params, hp.lr, hp.momentum, hp.weight_decay)
        epochs = max(1, self.trainer.max_epochs or 1)
        if hp.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=hp.lr * hp.eta_min_ratio)
        elif hp.schedule == "step":
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, hp.milestones or [], hp.gamma)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        return {"optimizer": opt, "lr_scheduler": sched}

"""``PretextMethod``: what every pretext method shares.

It owns the backbone, the device-side augmentation, the optimiser and schedule of the recipe, and the
logging of every loss term and pretext accuracy. A method subclass adds only its own parts: a
``sampler`` (which frames form which clips, and the pretext targets), its heads, and
``pretext_step(batch) -> dict`` returning ``loss`` plus named terms (``loss/...``) and accuracies
(``acc/...``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import nn

from vssl_bench.backbones import build_backbone, check_training_precision
from vssl_bench.data.sampling import ClipSampler
from vssl_bench.data.transforms import ClipAugment, batch_frames
from vssl_bench.errors import ConfigError
from vssl_bench.methods.optim import make_optimizer


class PretextMethod(pl.LightningModule):
    """Args:
        backbone: registry name (``c3d``, ``r3d10``, ``r21d10``, ``r3d18``, ``s3dg``).
        backbone_width: channel multiplier (1 = the paper network; the quick scale narrows it).
        bn_momentum: BatchNorm running-statistics momentum (``None``: the paper network's).
        clip_len: frames per clip fed to the network.
        crop_size: spatial size fed to the network.
        augment: keyword arguments of :class:`ClipAugment` (crop, scale, flip_p, jitter, ...).
        optimizer: ``sgd`` or ``adam``.
        lr: base learning rate.
        lr_batch_reference: if set, the LR is scaled by global batch / this (RSPNet: 64).
        momentum, weight_decay, nesterov: optimiser settings.
        schedule: ``cosine`` (to ``lr * eta_min_ratio``), ``step`` (x ``gamma`` at ``milestones``),
            ``constant``, or ``plateau`` (x ``gamma`` after ``plateau_patience`` epochs without a lower
            ``val/loss``: PRP's, which needs held-out videos, ``data.heldout``).
        warmup_epochs: linear warm-up before the schedule.
        channels_last: run the backbone in channels-last 3D memory format; ``auto`` (the default) on a
            GPU, where its tensor-core kernels want it, and not on a CPU.
        compile: run the online backbone through ``torch.compile`` (``True`` = inductor, or a backend
            name). The compiled callable is kept outside the module tree, so checkpoints keep the
            plain backbone's keys and load into the fine-tuning backbone unchanged.
    """

    def __init__(
        self,
        backbone: str = "r3d10",
        backbone_width: float = 1.0,
        bn_momentum: float | None = None,
        clip_len: int = 16,
        crop_size: int = 112,
        augment: dict[str, Any] | None = None,
        optimizer: Literal["sgd", "adam"] = "sgd",
        lr: float = 0.1,
        lr_batch_reference: int | None = None,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        nesterov: bool = False,
        schedule: Literal["cosine", "step", "constant", "plateau"] = "cosine",
        milestones: list[int] | None = None,
        gamma: float = 0.1,
        eta_min_ratio: float = 0.0,
        plateau_patience: int = 50,
        warmup_epochs: int = 0,
        channels_last: bool | Literal["auto"] = "auto",
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ConfigError(f"lr={lr}: the learning rate must be positive.")
        if schedule not in ("cosine", "step", "constant", "plateau"):
            raise ConfigError(f"schedule={schedule!r}: use cosine, step, constant or plateau.")
        if optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer={optimizer!r}: use sgd or adam.")
        if clip_len < 1 or crop_size < 8:
            raise ConfigError(f"clip_len={clip_len}, crop_size={crop_size}: need clip_len >= 1, crop_size >= 8.")
        self.save_hyperparameters()
        self.backbone = build_backbone(backbone, width=backbone_width, bn_momentum=bn_momentum)
        self.augment = ClipAugment(size=crop_size, **(augment or {}))
        self.share_augment: list[int] | None = None  # clips that reuse another clip's augmentation
        self.protocol_notes: dict[str, str] = {}  # how this run carried out the protocol, for the record

    # --- what a method provides -----------------------------------------------------------------
    @property
    def sampler(self) -> ClipSampler:
        raise NotImplementedError

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters that get ``head_lr_mult`` (PRP trains its fc8 at 10x); none by default."""
        return []

    head_lr_mult: float = 1.0
    own_batchnorm_groups: bool = False  # True: the method groups BatchNorm itself (never synchronised)

    # --- shared machinery ---------------------------------------------------------------------------
    @property
    def uses_channels_last(self) -> bool:
        option = self.hparams.channels_last
        if option != "auto":
            return bool(option)
        trainer = getattr(self, "_trainer", None)  # before the model is moved, the device it will run on
        return (trainer.strategy.root_device if trainer is not None else self.device).type == "cuda"

    def in_layout(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips in the memory layout the encoders' weights have (channels-last 3D where chosen): every
        encoder, the momentum copies included, reads its input through this."""
        return clips.contiguous(memory_format=torch.channels_last_3d) if self.uses_channels_last else clips

    def encode(self, clips: torch.Tensor, return_map: bool = False) -> torch.Tensor:
        return self._backbone_callable()(self.in_layout(clips), return_map=return_map)

    def _backbone_callable(self):
        option = self.hparams.get("compile", False)
        if not option:
            return self.backbone
        compiled = self.__dict__.get("_compiled_backbone")  # not a registered submodule, on purpose
        if compiled is None:
            backend = "inductor" if option is True else str(option)
            compiled = self.__dict__["_compiled_backbone"] = torch.compile(self.backbone, backend=backend)
        return compiled

    def setup(self, stage: str) -> None:
        """Before Lightning moves and wraps the model (DDP): the layout of every encoder's weights, the
        momentum copies included, so that DDP's buckets and the EMA see one layout from the start."""
        if self.uses_channels_last:  # weights and inputs both channels-last, or the format buys nothing
            self.to(memory_format=torch.channels_last_3d)

    def on_fit_start(self) -> None:
        check_training_precision(self.device, self.trainer.precision)
        if self.hparams.schedule == "plateau" and not getattr(self.trainer.datamodule, "heldout", 0):
            raise ConfigError("schedule=plateau follows the validation loss: hold out training videos "
                              "(data.heldout, PRP: 800) or choose another schedule.")

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        # 4:2:0 planes are converted to RGB at the data module's frame size first (transforms.batch_frames)
        batch["video"] = self.augment(batch_frames(batch), share=self.share_augment)  # (B, N, 3, T, S, S)
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.pretext_step(batch)
        size = batch["video"].shape[0]
        # each step: this rank's values (the progress bar, the log's step rows), with no all-reduce
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=size)
        for name, value in out.items():
            if name != "loss":
                self.log(f"train/{name}", value, prog_bar=name.startswith("acc/"), batch_size=size)
        # each epoch: the means (and the skip count) over every rank's batches, reduced once at its end
        self.log("train/epoch_loss", out["loss"], on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        for name, value in out.items():
            if name.startswith("acc/"):
                self.log(f"train/epoch_{name}", value, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        self.log("data/skipped_videos", batch["skipped"].sum().float(), on_step=False, on_epoch=True,
                 reduce_fx="sum", batch_size=size, sync_dist=True)
        return out["loss"]

    def effective_lr(self) -> float:
        lr = self.hparams.lr
        reference = self.hparams.lr_batch_reference
        if reference and self.trainer is not None and self.trainer.datamodule is not None:
            global_batch = self.trainer.world_size * self.trainer.datamodule.batch_size * self.trainer.accumulate_grad_batches
            lr *= global_batch / reference
        return lr

    def configure_optimizers(self):
        hp = self.hparams
        lr = self.effective_lr()
        head = {id(p) for p in self.head_parameters()}
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if id(p) not in head], "lr": lr}]
        if head:
            groups.append({"params": [p for p in params if id(p) in head], "lr": lr * self.head_lr_mult})
        opt = make_optimizer(hp.optimizer, groups, lr, hp.momentum, hp.weight_decay, hp.nesterov)
        epochs = max(1, self.trainer.max_epochs or 1) if self.trainer else 1
        warmup, milestones = hp.warmup_epochs, hp.milestones or []

        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            if hp.schedule == "cosine":
                progress = (epoch - warmup) / max(1, epochs - warmup)
                return hp.eta_min_ratio + (1 - hp.eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
            if hp.schedule == "step":
                return hp.gamma ** sum(epoch >= m for m in milestones)
            return 1.0

        if hp.schedule == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=hp.gamma,
                                                                 patience=hp.plateau_patience)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "interval": "epoch",
                                                       "monitor": "val/loss"}}
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

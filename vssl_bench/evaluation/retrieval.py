"""Nearest-neighbour video retrieval: test videos query train videos by cosine similarity.

A video's feature is the mean over N evenly spaced clips of the backbone feature: ``avg`` (global
average of the last map, RSPNet) or ``vcop`` (the last map max-pooled by (1, 2, 2) and flattened,
VCOP/PRP). A query hits at k when one of its k nearest gallery videos has its class; R@k is the
fraction of queries that hit. Features are gathered across ranks; the top-k runs on the device in
chunks of queries so a 10k x 10k similarity never sits in memory at once.

The same frozen features also give a linear probe: a logistic regression fitted on the train videos'
features, tested on the test videos' (``probe_top1``), a second frozen-feature protocol for free.
"""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from vssl_bench.backbones import build_backbone
from vssl_bench.data.transforms import ClipAugment, batch_frames
from vssl_bench.evaluation.checkpoints import load_backbone
from vssl_bench.evaluation.distributed import first_occurrence

DEFAULT_KS = (1, 5, 10, 20, 50)


@torch.no_grad()
def recall_at_k(query: torch.Tensor, query_labels: torch.Tensor, gallery: torch.Tensor,
                gallery_labels: torch.Tensor, ks: tuple[int, ...] = DEFAULT_KS, chunk: int = 1024) -> dict[str, float]:
    """R@k in percent for each k (k larger than the gallery counts the whole gallery)."""
    q = F.normalize(query.float(), dim=1)
    g = F.normalize(gallery.float(), dim=1)
    kmax = min(max(ks), g.shape[0])
    hits = torch.zeros(len(ks), device=q.device)
    for start in range(0, q.shape[0], chunk):
        sim = q[start:start + chunk] @ g.T
        nearest = sim.topk(kmax, dim=1).indices
        match = gallery_labels[nearest] == query_labels[start:start + chunk, None]
        first_hit = torch.where(match.any(1), match.float().argmax(1), torch.full_like(match[:, 0], kmax,
                                                                                         dtype=torch.long))
        for i, k in enumerate(ks):
            hits[i] += (first_hit < min(k, kmax)).sum()
    return {f"R@{k}": float(100 * hits[i] / max(1, q.shape[0])) for i, k in enumerate(ks)}


def linear_probe_top1(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                      test_labels: torch.Tensor, weight_decay: float = 1e-3, steps: int = 100) -> float:
    """Top-1 (%) of a multinomial logistic regression fitted on frozen train features (standardised
    with the train statistics, full-batch L-BFGS, deterministic) and applied to the test features."""
    with torch.inference_mode(False), torch.enable_grad():  # Lightning tests under inference mode
        return _fit_and_score(train.clone(), train_labels.clone(), test.clone(), test_labels.clone(),
                              weight_decay, steps)


def _fit_and_score(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                   test_labels: torch.Tensor, weight_decay: float, steps: int) -> float:
    mean, std = train.float().mean(0), train.float().std(0).clamp_min(1e-6)
    x, xt = (train.float() - mean) / std, (test.float() - mean) / std
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    layer = torch.nn.Linear(x.shape[1], classes).to(x.device)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(layer(x), train_labels) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(100 * (layer(xt).argmax(1) == test_labels).float().mean())


class RetrievalEvaluator(pl.LightningModule):
    """Run with ``trainer.test(model, datamodule)`` on a data module in ``retrieval`` mode."""

    def __init__(self, backbone: str = "r3d10", backbone_width: float = 1.0, bn_momentum: float | None = None,
                 init: str | None = None, init_format: str = "auto", crop_size: int = 112, crop: Literal["center", "center_square"] = "center",
                 normalize: Literal["imagenet", "unit", "bgr255"] = "imagenet",
                 pool: Literal["avg", "vcop"] = "avg", ks: tuple[int, ...] = DEFAULT_KS) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.backbone = build_backbone(backbone, width=backbone_width, bn_momentum=bn_momentum)
        self.loaded_tensors = load_backbone(self.backbone, init, init_format, backbone) if init else 0
        self.augment = ClipAugment(size=crop_size, crop=crop, flip_p=0.0, normalize=normalize)
        self._features: dict[int, list[dict[str, torch.Tensor]]] = {0: [], 1: []}
        self.results: dict[str, float] = {}

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        batch["video"] = self.augment(batch_frames(batch))  # 4:2:0 planes converted here first
        return batch

    def clip_features(self, clips: torch.Tensor) -> torch.Tensor:
        if self.hparams.pool == "avg":
            return self.backbone(clips)
        fmap = self.backbone(clips, return_map=True)
        if min(fmap.shape[-2:]) < 2:  # a map smaller than the window (tiny quick-scale inputs): as it is
            return fmap.flatten(1)
        return F.max_pool3d(fmap, (1, 2, 2)).flatten(1)

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        b, n = batch["video"].shape[:2]
        feats = self.clip_features(batch["video"].flatten(0, 1)).float().view(b, n, -1).mean(1)
        self._features[dataloader_idx].append({"index": batch["index"], "feature": feats, "label": batch["label"],
                                               "valid": batch["valid"]})

    def _collect(self, which: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Features and labels of the videos that decoded (one row per video), and how many did not."""
        local = {k: torch.cat([o[k] for o in self._features[which]]) for k in self._features[which][0]}
        gathered = {k: self.all_gather(v).reshape(-1, *v.shape[1:]) for k, v in local.items()}
        first = first_occurrence(gathered["index"])
        keep = first & gathered["valid"].bool()
        return gathered["feature"][keep], gathered["label"][keep], int((first & ~keep).sum())

    def on_test_epoch_end(self) -> None:
        gallery, gallery_labels, gallery_dropped = self._collect(0)
        query, query_labels, query_dropped = self._collect(1)
        self.results = recall_at_k(query, query_labels, gallery, gallery_labels, tuple(self.hparams.ks))
        self.results["probe_top1"] = linear_probe_top1(gallery, gallery_labels, query, query_labels)
        self.results |= {"queries": float(len(query)), "gallery": float(len(gallery)),
                         "undecodable_queries": float(query_dropped), "undecodable_gallery": float(gallery_dropped)}
        self.log_dict({f"retrieval/{k}": v for k, v in self.results.items()}, rank_zero_only=True)

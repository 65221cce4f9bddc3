from __future__ import annotations

import pytest
import torch

from vssl_bench.backbones import build_backbone
from vssl_bench.errors import CheckpointMismatchError
from vssl_bench.evaluation.checkpoints import load_backbone
from vssl_bench.evaluation.retrieval import recall_at_k


def test_recall_at_k_known_answers():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    gallery_labels = torch.tensor([0, 1, 2, 3])
    query = torch.tensor([[1.0, 0.1], [0.0, 1.0], [-1.0, -0.1]])
    query_labels = torch.tensor([3, 1, 0])
    # query 0: nearest are g0 (0), g3 (3) -> hit at 2; query 1: g1 -> hit at 1; query 2: g2, then ..., g0 last
    r = recall_at_k(query, query_labels, gallery, gallery_labels, ks=(1, 2, 4), chunk=2)
    assert r == pytest.approx({"R@1": 100 / 3, "R@2": 200 / 3, "R@4": 100.0})


def test_recall_is_chunk_independent():
    torch.manual_seed(0)
    q, g = torch.randn(50, 8), torch.randn(80, 8)
    ql, gl = torch.randint(0, 5, (50,)), torch.randint(0, 5, (80,))
    assert recall_at_k(q, ql, g, gl, chunk=7) == recall_at_k(q, ql, g, gl, chunk=1000)


def test_mismatched_checkpoint_names_the_keys(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_backbone("r3d10", width=0.125).state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match=r"missing \d+ \[.*\].*unexpected"):
        load_backbone(build_backbone("c3d", width=0.125), path)
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        load_backbone(build_backbone("r3d10", width=0.25), path)
    assert load_backbone(build_backbone("r3d10", width=0.125), path) > 0
    with pytest.raises(CheckpointMismatchError, match="not found"):
        load_backbone(build_backbone("r3d10"), tmp_path / "none.pt")


def test_linear_probe_trains_only_the_classifier(synthetic_root, tmp_path):
    import pytorch_lightning as pl

    from vssl_bench.data.datamodule import VideoDataModule
    from vssl_bench.evaluation.finetune import FineTuner

    torch.manual_seed(0)
    model = FineTuner(backbone="r3d10", backbone_width=0.125, num_classes=12, linear_probe=True, crop_size=32,
                      lr=0.1)
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = model.classifier[-1].weight.clone()
    data = VideoDataModule("synthetic", str(synthetic_root), mode="finetune", clip_len=4, frame_size=(40, 50),
                           batch_size=4, num_workers=0)
    pl.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               enable_checkpointing=False, default_root_dir=tmp_path).fit(model, data)
    # frozen means frozen: weights and BatchNorm running statistics alike
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone_before[key]), key
    assert not torch.equal(model.classifier[-1].weight, head_before)

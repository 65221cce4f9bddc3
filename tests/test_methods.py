from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from vssl_bench.backbones import build_backbone
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.errors import ConfigError
from vssl_bench.evaluation.checkpoints import load_backbone
from vssl_bench.evaluation.finetune import FineTuner
from vssl_bench.methods import METHODS

SMALL = {"rspnet": {"queue_size": 64}, "ascnet": {"bank_size": 64, "hidden_dim": 32}, "pace": {}, "prp": {}}


def tiny_module_and_data(module: str, root) -> tuple[pl.LightningModule, VideoDataModule]:
    """A narrow Pace pretext model (``pretext``) or fine-tuner (``finetune``) and its synthetic data."""
    if module == "pretext":
        model = METHODS["pace"](backbone="r3d10", backbone_width=0.125, clip_len=8, crop_size=32)
        return model, VideoDataModule("synthetic", str(root), frame_size=(40, 50), batch_size=4, num_workers=0,
                                      sampler=model.sampler)
    model = FineTuner(backbone="r3d10", backbone_width=0.125, num_classes=12, crop_size=32)
    return model, VideoDataModule("synthetic", str(root), mode="finetune", clip_len=8, frame_size=(40, 50),
                                  batch_size=4, num_workers=0)


def trainer(tmp_path, steps: int) -> pl.Trainer:
    return pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)


@pytest.mark.parametrize("backbone", ["c3d", "r3d10", "r21d10", "r3d18", "s3dg"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_steps_change_weights_and_checkpoint_feeds_the_finetune_backbone(method, backbone, synthetic_root,
                                                                             tmp_path):
    torch.manual_seed(0)
    model = METHODS[method](backbone=backbone, backbone_width=0.125, clip_len=8, crop_size=32, lr=0.05,
                            **SMALL[method])
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=4, num_workers=0,
                           sampler=model.sampler)
    t = trainer(tmp_path, 2)
    t.fit(model, data)
    assert torch.isfinite(t.callback_metrics["train/loss"])
    changed = [k for k, v in model.backbone.state_dict().items() if v.dtype.is_floating_point
               and not torch.equal(v, before[k])]
    assert changed
    path = tmp_path / "m.ckpt"
    t.save_checkpoint(path)
    fresh = build_backbone(backbone, width=0.125)
    assert load_backbone(fresh, path) == len(fresh.state_dict())
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, model.backbone.state_dict()[k])


@pytest.mark.parametrize("method", ["rspnet", "prp"])
def test_bf16_mixed_precision_trains_with_finite_losses(method, synthetic_root, tmp_path):
    """Lightning's ``precision="bf16-mixed"``: the MoCo softmax over the queue and PRP's weighted
    reconstruction stay finite. On CPU this needs oneDNN off: its bf16 Conv3d weight gradient returns
    uninitialised memory for 2-frame maps (see ``check_training_precision``), which made this test NaN
    or not depending on what the process had allocated before."""
    torch.manual_seed(0)
    model = METHODS[method](backbone="r3d10", backbone_width=0.125, clip_len=8, crop_size=32, lr=0.01,
                            **SMALL[method])
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=8, num_workers=0,
                           sampler=model.sampler)
    t = pl.Trainer(max_steps=2, accelerator="cpu", precision="bf16-mixed", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)
    with torch.backends.mkldnn.flags(enabled=False):
        t.fit(model, data)
    terms = {k: float(v) for k, v in t.callback_metrics.items() if k.startswith("train/loss")}
    assert all(map(math.isfinite, terms.values())), terms
    assert next(model.backbone.parameters()).dtype == torch.float32  # master weights stay fp32


def _dirty_heap() -> None:
    """Leave NaN in freed memory, where the next allocations of these sizes will find it."""
    junk = [torch.full((int(n),), float("nan")) for n in torch.logspace(2, 6.5, 40)]
    del junk


def test_cpu_bf16_conv3d_weight_gradient_is_exact_with_onednn_off():
    """The workaround the guard names is right: with oneDNN off, the bf16 weight gradient of a 3x3x3
    Conv3d on a 2-frame map matches the float32 one up to bf16 rounding, on a heap full of NaN."""
    torch.manual_seed(0)
    x, w = torch.randn(4, 16, 2, 4, 4), torch.randn(16, 16, 3, 3, 3) * 0.1
    grad_out = torch.randn(4, 16, 2, 4, 4)

    def weight_grad(dtype: torch.dtype) -> torch.Tensor:
        ww = w.to(dtype).detach().clone().requires_grad_(True)
        torch.nn.functional.conv3d(x.to(dtype), ww, padding=1).backward(grad_out.to(dtype))
        return ww.grad.float()

    reference = weight_grad(torch.float32)
    with torch.backends.mkldnn.flags(enabled=False):
        for _ in range(3):
            _dirty_heap()
            error = (weight_grad(torch.bfloat16) - reference).abs().max()
            assert error < 0.02 * reference.abs().max()  # bf16 rounding of 64-term sums, no garbage


@pytest.mark.parametrize("module", ["pretext", "finetune"])
def test_bf16_training_on_cpu_with_onednn_is_refused_with_the_fix(module, synthetic_root, tmp_path):
    model, data = tiny_module_and_data(module, synthetic_root)
    t = pl.Trainer(max_steps=1, accelerator="cpu", precision="bf16-mixed", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)
    with pytest.raises(ConfigError, match=r"bf16-mixed.*on CPU.*32-true"):
        t.fit(model, data)


def test_compiled_channels_last_backbone_keeps_plain_checkpoint_keys(synthetic_root, tmp_path):
    """``compile`` (here the eager backend: the wiring, not the compiler) and ``channels_last`` change
    how the backbone runs, not what a checkpoint holds."""
    torch.manual_seed(0)
    model = METHODS["pace"](backbone="r3d10", backbone_width=0.125, clip_len=8, crop_size=32, compile="eager",
                            channels_last=True)
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=4, num_workers=0,
                           sampler=model.sampler)
    t = trainer(tmp_path, 2)
    t.fit(model, data)
    assert torch.isfinite(t.callback_metrics["train/loss"])
    assert "_compiled_backbone" in model.__dict__
    path = tmp_path / "m.ckpt"
    t.save_checkpoint(path)
    assert load_backbone(build_backbone("r3d10", width=0.125), path) == len(model.backbone.state_dict())


def test_momentum_encoders_follow_parameters_and_keep_their_own_batchnorm_statistics():
    """MoCo/BYOL update the key encoder's parameters by EMA; its BatchNorm running statistics come
    from the batches it normalises itself, never copied from the online network."""
    from vssl_bench.methods.heads import ema_update, momentum_copy

    online = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 1), torch.nn.BatchNorm3d(4))
    target = momentum_copy(online)
    online(torch.randn(2, 3, 2, 4, 4) * 5 + 3)  # the online statistics move
    with torch.no_grad():
        online[0].weight.add_(1.0)
    expected = [t.detach().clone().mul_(0.9).add_(o.detach(), alpha=0.1) for t, o in zip(target.parameters(), online.parameters())]
    ema_update([(target, online)], 0.9)
    assert all(torch.equal(t, e) for t, e in zip(target.parameters(), expected))  # the per-tensor update, exactly
    assert torch.equal(target[1].running_mean, torch.zeros(4))
    assert not torch.equal(online[1].running_mean, torch.zeros(4))
    assert torch.allclose(target[0].weight, online[0].weight - 0.9)  # 0.9 w + 0.1 (w + 1)


def test_one_process_shuffling_bn_normalises_keys_in_shuffled_groups():
    """With one process, keys are normalised by the statistics of random groups of the batch, not of the
    whole batch (what the query saw); rows come back in their own order."""
    from vssl_bench.methods.heads import shuffled_forward

    torch.manual_seed(0)
    x = torch.randn(8, 3) * torch.arange(1, 9.0)[:, None]
    bn = torch.nn.BatchNorm1d(3, affine=False).train()
    whole = bn(x)
    torch.manual_seed(1)
    grouped = shuffled_forward(bn, x, groups=2)
    torch.manual_seed(1)
    order = torch.randperm(8)
    for part in torch.tensor_split(order, 2):
        mean, var = x[part].mean(0), x[part].var(0, unbiased=False)
        assert torch.allclose(grouped[part], (x[part] - mean) / torch.sqrt(var + bn.eps), atol=1e-5)
    assert not torch.allclose(grouped, whole, atol=1e-3)
    linear = torch.nn.Linear(3, 2)  # no batch statistics: the shuffle must be invisible
    assert torch.allclose(shuffled_forward(linear, x, groups=4), linear(x), atol=1e-6)
    assert torch.equal(shuffled_forward(bn, x, groups=1), bn(x))


def test_rspnet_records_how_it_shuffled_bn(synthetic_root, tmp_path):
    torch.manual_seed(0)
    model = METHODS["rspnet"](backbone="r3d10", backbone_width=0.125, clip_len=8, crop_size=32, shuffle_groups=2,
                              **SMALL["rspnet"])
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=4, num_workers=0,
                           sampler=model.sampler)
    trainer(tmp_path, 1).fit(model, data)
    assert model.protocol_notes["shuffle_bn"].startswith("emulated on one process") and "2 groups" in model.protocol_notes["shuffle_bn"]

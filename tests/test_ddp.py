"""Multi-process behaviour on CPU with the gloo backend: what DDP users of the MoCo-style methods
rely on (the queue is filled from every rank; shuffled BN returns each rank's own keys)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vssl_bench.methods.heads import gather_all, shuffled_forward


def test_rspnet_queue_holds_keys_from_both_ranks(synthetic_root, tmp_path):
    script = Path(__file__).with_name("ddp_queue_run.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run([sys.executable, str(script), str(synthetic_root), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # the queues are replicas, holding 2 ranks x batch 2 x 3 steps keys
    assert torch.equal(ranks[0]["queue"], ranks[1]["queue"])
    assert ranks[0]["filled"] == 2 * 2 * 3
    queue = ranks[0]["queue"]
    for r in ranks:
        own = r["own_keys"]
        assert own.shape[0] == 2 * 3
        # every key a rank enqueued is in the queue (exact row), so both ranks' keys are there
        difference = (own[:, None, :] - queue[None, :, :]).abs().amax(dim=2)
        assert torch.all(difference.min(dim=1).values == 0)
    assert not torch.allclose(ranks[0]["own_keys"], ranks[1]["own_keys"])


def _shuffle_worker(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(rank)
    x = torch.randn(3, 5)
    encoder = torch.nn.Linear(5, 4)
    torch.manual_seed(0)
    encoder.reset_parameters()  # the same weights on every rank, as DDP keeps them
    shuffled = shuffled_forward(encoder, x)
    plain = encoder(x)
    gathered = gather_all(x)
    torch.save({"shuffled": shuffled, "plain": plain.detach(), "gathered": gathered, "x": x}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_shuffled_forward_returns_each_ranks_own_outputs(tmp_path):
    mp.spawn(_shuffle_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    for r in results:
        # a per-sample encoder must give the same answer shuffled or not: nothing got swapped
        torch.testing.assert_close(r["shuffled"], r["plain"])
        torch.testing.assert_close(r["gathered"], torch.cat([results[0]["x"], results[1]["x"]]))


def _gather_everything_reference(encoder, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The exchange shuffling BN used before: every rank gathers every rank's clips, encodes its
    share of the permuted batch, gathers every rank's keys and keeps its own rows."""
    rank, b, world = dist.get_rank(), x.shape[0], dist.get_world_size()
    everything = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(everything, x)
    out = encoder(torch.cat(everything)[order[rank * b:(rank + 1) * b]])
    keys = [torch.empty_like(out) for _ in range(world)]
    dist.all_gather(keys, out)
    restored = torch.empty(world * b, out.shape[1])
    restored[order] = torch.cat(keys)
    return restored[rank * b:(rank + 1) * b]


def _exchange_worker(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(10 + rank)
    x = torch.randn(6, 5) * torch.arange(1, 6.0)
    torch.manual_seed(0)  # the same weights on every rank, as DDP keeps them
    encoder = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4)).train()
    moved: dict[str, int] = {"bytes": 0}
    originals = {name: getattr(dist, name) for name in ("all_gather", "all_to_all_single", "broadcast")}

    def counted(name):
        def call(output, *args, **kwargs):
            tensors = output if isinstance(output, list) else [output]
            moved["bytes"] += sum(t.numel() * t.element_size() for t in tensors)
            return originals[name](output, *args, **kwargs)
        return call

    results = {}
    for step in range(3):
        ours, theirs = torch.Generator().manual_seed(step), torch.Generator().manual_seed(step)
        for name in originals:
            setattr(dist, name, counted(name))
        moved["bytes"] = 0
        keys = shuffled_forward(encoder, x, generator=ours)
        results[f"bytes_new{step}"] = moved["bytes"]
        moved["bytes"] = 0
        reference = _gather_everything_reference(encoder, x, torch.randperm(world * 6, generator=theirs))
        results[f"bytes_old{step}"] = moved["bytes"]
        for name, original in originals.items():
            setattr(dist, name, original)
        results[f"keys{step}"], results[f"reference{step}"] = keys, reference
    results["default"] = shuffled_forward(encoder, x)  # the generator every rank seeds alike
    torch.save(results, f"{out}/exchange{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_shuffling_bn_sends_each_rank_only_its_clips_and_gives_the_gathered_keys(tmp_path):
    """Keys equal those of gathering every clip everywhere (same permutation, a BatchNorm encoder so
    the batch each rank normalises matters), while each rank receives its share only."""
    mp.spawn(_exchange_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        r = torch.load(tmp_path / f"exchange{rank}.pt")
        for step in range(3):
            torch.testing.assert_close(r[f"keys{step}"], r[f"reference{step}"])
            assert r[f"bytes_new{step}"] * 2 == r[f"bytes_old{step}"]  # b rows in, not world x b
        assert r["default"].shape == (6, 4) and torch.isfinite(r["default"]).all()


class _Phase(pl.Callback):
    """Whether the trainer is inside a training batch (the step) or between batches."""

    def __init__(self) -> None:
        self.inside = False

    def on_train_batch_start(self, *args) -> None:
        self.inside = True

    def on_train_batch_end(self, *args) -> None:
        self.inside = False


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
@pytest.mark.parametrize("stage", ["pretext", "finetune"])
def test_training_steps_make_no_all_reduce_and_epochs_reduce_their_means(stage, synthetic_root, monkeypatch):
    """Under DDP (one gloo process here), logging costs no collective per step: step values are the
    rank's own, and the epoch means the records read (``train/epoch_*``) are reduced at the epoch's end."""
    from test_methods import tiny_module_and_data

    phase, calls = _Phase(), []
    original = dist.all_reduce

    def all_reduce(*args, **kwargs):
        calls.append("step" if phase.inside else "between")
        return original(*args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    model, data = tiny_module_and_data(stage, synthetic_root)
    trainer = pl.Trainer(accelerator="cpu", devices=1, strategy="ddp", max_epochs=1, limit_train_batches=3,
                         limit_val_batches=0, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False, callbacks=[phase])
    with mock.patch.dict(os.environ):  # Lightning's DDP set-up exports its rendezvous variables
        try:
            trainer.fit(model, data)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    assert trainer.global_step == 3
    assert "step" not in calls and "between" in calls
    assert math.isfinite(float(trainer.callback_metrics["train/epoch_loss"]))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
@pytest.mark.parametrize("method", ["rspnet", "ascnet"])
def test_channels_last_is_set_on_every_encoder_before_ddp_wraps_the_model(method, synthetic_root, monkeypatch):
    """The online and the momentum encoders' weights are channels-last 3D when DDP wraps the module
    (its gradient buckets take the weights' strides then), and the key encoders read channels-last
    input during the steps."""
    from pytorch_lightning.strategies.ddp import DDPStrategy

    from vssl_bench.data.datamodule import VideoDataModule
    from vssl_bench.methods import METHODS

    def layouts(module: torch.nn.Module) -> dict[str, bool]:
        return {name: p.is_contiguous(memory_format=torch.channels_last_3d)
                for name, p in module.named_parameters() if p.dim() == 5}

    at_wrap: dict[str, bool] = {}
    setup_model = DDPStrategy._setup_model

    def recording(self, model):
        at_wrap.update(layouts(model))
        return setup_model(self, model)

    monkeypatch.setattr(DDPStrategy, "_setup_model", recording)
    small = {"rspnet": {"queue_size": 32, "proj_dim": 16}, "ascnet": {"bank_size": 32, "proj_dim": 16, "hidden_dim": 32}}
    model = METHODS[method](backbone="r3d10", backbone_width=0.125, clip_len=4, crop_size=32, channels_last=True,
                            **small[method])
    key_inputs: list[bool] = []
    key_encoder = model.key_backbone if method == "rspnet" else model.target_backbone
    key_encoder.register_forward_pre_hook(
        lambda _, args: key_inputs.append(args[0].is_contiguous(memory_format=torch.channels_last_3d)))
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=4, num_workers=0,
                           sampler=model.sampler)
    trainer = pl.Trainer(accelerator="cpu", devices=1, strategy="ddp", max_steps=2, logger=False,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
    with mock.patch.dict(os.environ):
        try:
            trainer.fit(model, data)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    momentum = [name for name in at_wrap if name.startswith(("key_", "target_"))]
    assert momentum and at_wrap and all(at_wrap.values()), [n for n, ok in at_wrap.items() if not ok]
    assert key_inputs and all(key_inputs)

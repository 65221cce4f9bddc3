"""Reference numbers from the authors' own code, for ``tests/test_official_equivalence.py``.

Runs the official RSPNet, Pace and PRP code and ours on the same inputs with the same weights and
writes what the official code computed to ``tests/fixtures/official/``: one training step per recipe
(loss terms, gradients, the optimiser step with its momentum / EMA updates and queue;
``<method>.json``), the exact outcome probabilities of the official samplers (same file), and the
downstream code (fine-tuning logits, retrieval features and R@k, evaluation clips;
``rspnet_downstream.json``, ``prp_downstream.json`` with VCOP's retrieval, which PRP uses). The tests
recompute our side from the fixtures' descriptions; they never need the official code.

How a case is built (both sides from one description stored in the fixture):

* weights: our model is initialised from ``seed`` (``torch.manual_seed``) with the recipe's settings
  at ``width`` and copied into the official model by the layer table of
  ``vssl_bench/evaluation/official_weights.py`` plus the head correspondences below. Narrow cases hand
  the official modules a copy of ``torch.nn`` whose Conv3d, ConvTranspose3d, BatchNorm3d and Linear
  scale channel counts by ``width`` (RGB and class counts untouched), so the official code runs
  unchanged; networks whose code hard-codes 512 features run at full width on small frames.
* inputs: seeded tensors, or raw uint8 frames (a moving square over a noisy ramp) handed to the
  official dataset's own ``__getitem__`` (PRP).
* samplers: ``Draws`` replays the official loader and ours once per combination of their random
  integer draws, which gives every outcome's exact probability.
* what the official code imports but these runs never call (OpenCV, video readers, loggers, config
  parsers) is stubbed; where today's torch cannot run a line (named tensors) or a library is absent
  (sklearn's ``cosine_distances``) the same arithmetic is written out, and the docstring says so.

Usage (not run in CI; each checkout a ``git archive`` of the repository)::

    python tests/official/official_reference.py --prp PRP --pace PACE --rspnet RSPNET --vcop VCOP \
        --commits prp=<sha> pace=<sha> rspnet=<sha> vcop=<sha> [--out tests/fixtures/official] \
        [--width 1 --dry-run]   # the paper networks, compared and printed only

The commits are read from ``--commits`` or from ``git -C <path> rev-parse HEAD`` when that works.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import types
import zlib
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from vssl_bench.bench.recipes import load_recipe
from vssl_bench.evaluation.official_weights import PREFIXES, to_official
from vssl_bench.methods import METHODS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "official"
OFFICIAL_REPOS = {"prp": "yuanyao366/PRP", "pace": "laura-wang/video-pace", "rspnet": "PeihaoChen/RSPNet",
                  "vcop": "xudejing/video-clip-order-prediction"}


# --- shared by this script and the tests -------------------------------------------------------------

CHECKSUM_ELEMENTS = 1 << 16


def projection(name: str, count: int) -> torch.Tensor:
    """A fixed pseudo-random direction per tensor name: ``count`` float32 values in [-1, 1]."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.rand(count, generator=g) * 2 - 1


def summarize(tensors: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """``{name: [L2 norm, checksum]}``: the checksum is the dot product of (an evenly strided sample of at
    most 65536 of) the tensor's elements with its name's ``projection``; it changes when values move
    between elements, which the norm would not see."""
    out = {}
    for name, t in tensors.items():
        t = t.detach().float().cpu().flatten()
        sample = t[::max(1, -(-t.numel() // CHECKSUM_ELEMENTS))]
        out[name] = [float(t.norm()), float(torch.dot(sample, projection(name, sample.numel())))]
    return out


def fingerprint(module: nn.Module) -> dict[str, list[float]]:
    """The seeded weights in two numbers (sums of the norms and checksums of every floating tensor): a
    fixture whose fingerprint ours no longer matches was made with another initialisation (a torch
    release that draws its default initialisation differently) and must be regenerated."""
    tensors = {k: v for k, v in module.state_dict().items() if v.dtype.is_floating_point}
    pairs = summarize(tensors).values()
    return {"weights": [sum(p[0] for p in pairs), sum(p[1] for p in pairs)]}


def moving_frames(seed: int, count: int, size: int = 112, still: tuple[int, int] | None = None) -> np.ndarray:
    """``count`` uint8 RGB frames (count, size, size, 3): a noisy ramp with a square moving 3 px a frame
    and changing colour. ``still = (a, b)`` freezes frames a..b-1 on frame a (a motionless stretch)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    ramp = (xx + 2 * yy)[..., None] * np.array([0.3, 0.5, 0.7]) % 200
    colour = rng.integers(60, 255, (count, 3))
    frames = np.empty((count, size, size, 3), np.uint8)
    for t in range(count):
        img = ramp + rng.normal(0, 8, (size, size, 3))
        x0 = (3 * t) % (size - 24)
        y0 = (size // 3 + t) % (size - 24)
        img[y0:y0 + 24, x0:x0 + 24] = colour[t]
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    if still is not None:
        frames[still[0]:still[1]] = frames[still[0]]
    return frames


def seeded_model(method: str, spec: dict[str, Any]):
    """Our method module for a case: the ``model`` section of the case's paper recipe (optimiser, loss
    weights, heads), narrowed to ``spec['width']``, weights from ``spec['seed']``."""
    recipe = load_recipe(ROOT / spec["recipe"], "paper")
    assert recipe.method == method, (recipe.method, method)
    kwargs = recipe.model | {"backbone_width": spec["width"]} | spec.get("overrides", {})
    torch.manual_seed(spec["seed"])
    return METHODS[method](backbone=recipe.backbone, **kwargs)  # as the runner builds it (bench/stages.py)


def sgd_optimizer(model, batch_size: int | None = None) -> torch.optim.Optimizer:
    """Our recipe's optimiser (its ``configure_optimizers``) under a bare one-device Trainer whose data
    module has ``batch_size`` (the batch-size rule on the LR sees it)."""
    model.trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
                               enable_checkpointing=False, enable_model_summary=False)
    if batch_size is not None:
        model.trainer.datamodule = types.SimpleNamespace(batch_size=batch_size)
    conf = model.configure_optimizers()
    return conf["optimizer"] if isinstance(conf, dict) else conf


def deltas(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: after[k].float() - before[k].float() for k in before if after[k].dtype.is_floating_point}


class Draws:
    """Every outcome of a random program whose randomness is uniform integer draws, with its exact
    probability: the program is replayed once per combination of draws (depth-first), each draw
    ``draw(low, high)`` uniform over ``[low, high)``. Paths less likely than ``floor`` are dropped
    (the official loaders retry without bound). ``numpy_like(draw)`` stands in for a
    ``numpy.random.Generator`` (``integers``, ``choice``) in our samplers: the same distribution of
    values, not numpy's stream."""

    def __init__(self, floor: float = 1e-12) -> None:
        self.floor = floor

    def run(self, program) -> dict[Any, float]:
        outcomes: dict[Any, float] = {}
        pending: list[list[int]] = [[]]
        while pending:
            path = _Path(pending.pop(), pending, self.floor)
            try:
                key = program(path.draw)
            except _Unlikely:
                continue
            outcomes[key] = outcomes.get(key, 0.0) + path.p
        return outcomes

    @staticmethod
    def numpy_like(draw):
        class Generator:
            def integers(self, low, high=None, size=None):
                low, high = (0, low) if high is None else (low, high)
                if size is None:
                    return draw(low, high)
                return np.array([draw(low, high) for _ in range(int(np.prod(size)))]).reshape(size)

            def choice(self, a, size=None, replace=True):
                pool = list(np.asarray(a))
                count = 1 if size is None else int(size)
                picks = [pool[draw(0, len(pool))] if replace else pool.pop(draw(0, len(pool))) for _ in range(count)]
                return picks[0] if size is None else np.array(picks)

        return Generator()


class _Path:
    """One replay: the scripted choices first, then the first value of each new draw (its siblings
    queued in ``pending``)."""

    def __init__(self, script: list[int], pending: list[list[int]], floor: float) -> None:
        self.script, self.pending, self.floor = script, pending, floor
        self.made: list[int] = []
        self.p = 1.0

    def draw(self, low: int, high: int) -> int:
        n = int(high) - int(low)
        if n < 1:
            raise ValueError(f"empty range [{low}, {high})")
        if len(self.made) < len(self.script):
            v = self.script[len(self.made)]
        else:
            v = 0
            if self.p / n >= self.floor:
                self.pending.extend(self.made + [alt] for alt in range(1, n))
        self.made.append(v)
        self.p /= n
        if self.p < self.floor:
            raise _Unlikely
        return int(low) + v


class _Unlikely(Exception):
    pass


# --- PRP ----------------------------------------------------------------------------------------------

PRP_HEADS = {  # our layer -> official layer (SSCN_OneClip)
    "rate_conv.0": "conv6_cls.conv3d.0", "rate_conv.1": "conv6_cls.conv3d.1", "rate_fc": "fc8",
    "decoder.net.0.0": "conv6_rec.conv3d.0", "decoder.net.0.1": "conv6_rec.conv3d.1",
    "decoder.net.1": "up1.up3d", "decoder.net.2.0": "up1.conv3d.conv3d.0", "decoder.net.2.1": "up1.conv3d.conv3d.1",
    "decoder.net.3": "up2.up3d", "decoder.net.4.0": "up2.conv3d.conv3d.0", "decoder.net.4.1": "up2.conv3d.conv3d.1",
    "decoder.net.5": "up3.up3d", "decoder.net.6.0": "up3.conv3d.conv3d.0", "decoder.net.6.1": "up3.conv3d.conv3d.1",
    "decoder.net.7": "up4_1", "decoder.net.8.0": "outc.conv3d.0", "decoder.net.8.1": "outc.conv3d.1",
}

PRP_SPEC = {"width": 0.125, "seed": 0, "frame_seed": 1,
            "rates": [1, 2, 4, 8], "still": {"1": [0, 16]}}


def prp_names(model) -> dict[str, str]:
    """Our full tensor name -> the official one, for every tensor of our PRP model."""
    backbone = {k: v for k, v in model.backbone.state_dict().items()}
    official = to_official(backbone, "prp", model.hparams.backbone)
    names = {}
    inverse = {id(v): k for k, v in official.items()}
    for k, v in backbone.items():
        names[f"backbone.{k}"] = inverse[id(v)].removeprefix("module.")
    for k in model.state_dict():
        if k.startswith("backbone."):
            continue
        layer, tensor = k.rsplit(".", 1)
        names[k] = f"{PRP_HEADS[layer]}.{tensor}"
    return names


def prp_raw_videos(spec: dict[str, Any]) -> list[np.ndarray]:
    """Item i: 16 s + 1 raw frames at rate ``spec['rates'][i]``; the official loader reads the first 16 s
    (start 0), ours their indices (the rate-1 placeholder frame past the span included)."""
    videos = []
    for i, s in enumerate(spec["rates"]):
        still = spec.get("still", {}).get(str(i))
        videos.append(moving_frames(spec["frame_seed"] + i, 16 * s + 1, still=tuple(still) if still else None))
    return videos


def ours_prp(spec: dict[str, Any]) -> dict[str, Any]:
    """Our PRP step on the case: loss terms, gradients, the SGD update (deltas), the motion weights."""
    from vssl_bench.methods.prp import DilatedSampler

    model = seeded_model("prp", spec)
    initial = fingerprint(model)
    model.train()
    sampler = DilatedSampler(16, (1, 2, 4, 8))
    videos, labels = [], []
    for raw, s in zip(prp_raw_videos(spec), spec["rates"]):
        clips = sampler.clips(0, s, len(raw))  # a video one frame longer than the span: no wrap
        videos.append(torch.from_numpy(raw[np.stack(clips)]))
        labels.append((1, 2, 4, 8).index(s))
    rate = torch.tensor(labels)
    batch = {"video": torch.stack(videos), "targets": {"rate": rate, "between_real": (rate > 0).long()}}
    batch = model.on_after_batch_transfer(batch, 0)
    opt = sgd_optimizer(model)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = model.pretext_step(batch)
    opt.zero_grad()
    out["loss"].backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    opt.step()
    video = batch["video"]
    weight = model.motion_weight(video[:, 2:], batch["targets"]["rate"], 32)
    return {"initial": initial,
            "losses": {"loss": out["loss"].item(), "reconstruction": float(out["loss/reconstruction"]),
                       "rate_ce": float(out["loss/rate"])},
            "grads": summarize(grads), "update": summarize(deltas(before, model.state_dict())),
            "motion_weight": summarize({f"item{i}": w for i, w in enumerate(weight)})}


PRP_RECIPES = {"experiments/prp/r3d10_ucf101.yaml": {"rates": [1, 4], "still": {"1": [0, 16]}},
               "experiments/prp/c3d_ucf101.yaml": {"rates": [2, 8], "still": {"0": [0, 16]}}}
"""Per recipe, changes to ``PRP_SPEC``: two items each (the CI test stays short), all four rates between
them, a motionless first chunk in the second item of one and the first of the other."""
PRP_FILES = ["train_predict.py", "config.py", "datasets/predict_dataset.py", "datasets/patch_region.py", "models/sscn.py",
             "models/net_part.py", "models/r3d.py", "models/c3d.py"]
PRP_LENGTHS = [100, 129, 186, 300]  # 100: too short for rate 8 (needs 16 x 8 + 1); 129: exactly long enough


def ours_prp_sampling(num_frames: int) -> dict[str, float]:
    """Exact probabilities of our PRP sampler's outcomes ``"<rate>:<first raw frame>"`` (``":other"`` when
    the video is too short for the rate and the sampler asks the data module for another video)."""
    from vssl_bench.data.sampling import VideoTooShort
    from vssl_bench.methods.prp import DilatedSampler

    sampler = DilatedSampler(16, (1, 2, 4, 8))

    def program(draw) -> str:
        try:
            clips, targets = sampler(num_frames, Draws.numpy_like(draw))
        except VideoTooShort as short:
            return f"{(1, 2, 4, 8)[short.wrapped[1]['rate']]}:other"
        return f"{(1, 2, 4, 8)[targets['rate']]}:{int(clips[0][0])}"

    return Draws().run(program)


# --- Pace ---------------------------------------------------------------------------------------------

PACE_RECIPES = ["experiments/pace/r3d10_ucf101.yaml", "experiments/pace/c3d_ucf101.yaml"]
PACE_FILES = ["train.py", "datasets/ucf101.py", "models/r3d.py", "models/c3d.py"]
PACE_SPEC = {"width": 1.0, "seed": 0, "input_seed": 2, "paces": [1, 2, 3, 4], "input_size": [8, 16, 16]}
PACE_LENGTHS = [40, 100, 186]
PACE_TABLE = {"r3d10": ("prp", "module.base_network."), "c3d": ("rspnet", "encoder_q.encoder.")}
"""Pace's official R3D is VCOP's (PRP's table); its C3D names its layers as RSPNet's does."""


def pace_input(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The network input (B, 3, T, H, W): what the official loader hands the model, BGR in 0..255."""
    g = torch.Generator().manual_seed(spec["input_seed"])
    x = torch.rand(len(spec["paces"]), 3, *spec["input_size"], generator=g) * 255
    return x, torch.tensor(spec["paces"]) - 1


def pace_names(model) -> dict[str, str]:
    """Our tensor name -> the official one (the backbone by the layer table, ``classifier`` -> ``linear``)."""
    layout, prefix = PACE_TABLE[model.hparams.backbone]
    backbone = model.backbone.state_dict()
    official = to_official(backbone, layout, model.hparams.backbone)
    official = official.get("model", official)
    inverse = {id(v): k.removeprefix(prefix) for k, v in official.items()}
    names = {f"backbone.{k}": inverse[id(v)] for k, v in backbone.items()}
    names |= {f"classifier.{t}": f"linear.{t}" for t in ("weight", "bias")}
    return names


def ours_pace(spec: dict[str, Any]) -> dict[str, Any]:
    """Our Pace step on the case's input (augmentation is outside the comparison: both sides get the
    same network input)."""
    model = seeded_model("pace", spec)
    initial = fingerprint(model)
    model.train()
    x, labels = pace_input(spec)
    opt = sgd_optimizer(model)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = model.pretext_step({"video": x[:, None], "targets": {"pace": labels[:, None]}})
    opt.zero_grad()
    out["loss"].backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    opt.step()
    return {"initial": initial, "losses": {"loss": out["loss"].item(), "pace_ce": float(out["loss/pace"])},
            "grads": summarize(grads), "update": summarize(deltas(before, model.state_dict()))}


def pace_key(pace: int, clip: np.ndarray) -> str:
    return f"{pace}:{int(clip[0])}:{zlib.crc32(np.asarray(clip, np.int64).tobytes()):08x}"


def ours_pace_sampling(num_frames: int) -> dict[str, float]:
    """Exact probabilities of our Pace sampler's outcomes ``"<pace>:<first frame>:<crc32 of the indices>"``."""
    from vssl_bench.methods.pace import PaceSampler

    sampler = PaceSampler(16, 4)

    def program(draw) -> str:
        (clip,), targets = sampler(num_frames, Draws.numpy_like(draw))
        return pace_key(int(targets["pace"][0]) + 1, clip)

    return Draws().run(program)


# --- RSPNet -------------------------------------------------------------------------------------------

RSPNET_RECIPES = {"experiments/rspnet/c3d_k400.yaml": {},
                  "experiments/rspnet/r21d10_k400.yaml": {"width": 1.0, "input_size": [16, 8, 8]}}
"""Per recipe, changes to ``RSPNET_SPEC``. R(2+1)D runs at full width on small frames: narrowing the
official definition would not narrow its (2+1)D intermediate widths the way ours are computed. The
windows are 16 frames (clips of 8) to keep the CI test short; the code paths are those of 32 / 16."""
RSPNET_FILES = ["moco/builder_diffspeed_diffloss.py", "datasets/classification/video.py",
                "datasets/transforms_video/transforms_temporal.py", "moco/split_wrapper.py", "moco/__init__.py", "pretrain.py",
                "framework/utils/environment.py", "config/pretrain/moco-train-base.jsonnet",
                "config/optimizer/sgd.libsonnet", "models/c3d.py", "models/r2plus1d_vcop.py"]
RSPNET_SPEC = {"width": 0.125, "seed": 0, "input_seed": 3, "shuffle_seed": 4, "batch": 4, "input_size": [16, 32, 32],
               "queue_pointer": 8, "overrides": {"queue_size": 64, "shuffle_groups": 1}}
"""One shuffle group: on one process the official code's shuffling BN is a single group; ours emulates
several by default (a stated deviation)."""


def rspnet_model(spec: dict[str, Any]):
    """Our RSPNet for a case: the key encoder moved away from the online one (otherwise the momentum
    update would have nothing to show) and the queue pointer set."""
    model = seeded_model("rspnet", spec)
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    with torch.no_grad():
        for module in (model.key_backbone, model.key_head_a, model.key_head_m):
            for p in module.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    model.queue.pointer.fill_(spec["queue_pointer"])
    return model


def rspnet_windows(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The official model's input: two windows of 2 x 16 frames per video (q's and k's, augmented,
    ImageNet-normalised), and which videos the official ``_diff_speed`` plays fast (its first
    ``randperm`` after ``shuffle_seed``)."""
    g = torch.Generator().manual_seed(spec["input_seed"])
    b, size = spec["batch"], spec["input_size"]
    im_q, im_k = torch.randn(b, 3, *size, generator=g), torch.randn(b, 3, *size, generator=g)
    torch.manual_seed(spec["shuffle_seed"])
    order = torch.randperm(b)
    fast = torch.zeros(b, dtype=torch.long)
    fast[order[int(b * 0.5):]] = 1
    return im_q, im_k, fast


def ours_rspnet(spec: dict[str, Any]) -> dict[str, Any]:
    """Our RSPNet step: q, k, k- cut from the official windows at the official speeds."""
    model = rspnet_model(spec)
    initial = fingerprint(model)
    model.train()
    im_q, im_k, fast = rspnet_windows(spec)
    t = spec["input_size"][0] // 2

    def at(x: torch.Tensor, speeds: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[i, :, ::2][:, :t] if s else x[i, :, :t] for i, s in enumerate(speeds)])

    video = torch.stack([at(im_q, fast), at(im_k, fast), at(im_k, 1 - fast)], 1)
    opt = sgd_optimizer(model, batch_size=spec["batch"])
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = model.pretext_step({"video": video, "targets": {"speed": fast}})
    opt.zero_grad()
    out["loss"].backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    opt.step()
    return {"initial": initial,
            "losses": {"loss": out["loss"].item(), "avid_same_speed": float(out["loss/avid_same_speed"]),
                       "avid_other_speed": float(out["loss/avid_other_speed"]),
                       "rsp_ranking": float(out["loss/rsp_ranking"])},
            "grads": summarize(grads),
            "update": summarize({k: v for k, v in deltas(before, model.state_dict()).items()
                                 if not k.startswith("queue.")}),  # the queue is compared on its own
            "lr": {"base": opt.param_groups[0]["lr"]},
            "queue": summarize({"features": model.queue.features}) | {"pointer": [int(model.queue.pointer)] * 2}}


RSPNET_LENGTHS = [20, 32, 33, 40, 50]  # shorter than a window, exactly one, one more, longer


def rspnet_key(fast: int, q: np.ndarray, k: np.ndarray, k_neg: np.ndarray) -> str:
    return f"{fast}:{zlib.crc32(np.concatenate([q, k, k_neg]).astype(np.int64).tobytes()):08x}"


def ours_rspnet_sampling(num_frames: int) -> dict[str, float]:
    """Exact probabilities of our RSPNet sampler's (speed, q, k, k-) for one video."""
    from vssl_bench.methods.rspnet import TwoSpeedSampler

    sampler = TwoSpeedSampler(16, 2)

    def program(draw) -> str:
        (q, k, k_neg), targets = sampler(num_frames, Draws.numpy_like(draw))
        return rspnet_key(targets["speed"], q, k, k_neg)

    return Draws().run(program)


# --- downstream: fine-tuning logits, retrieval features, evaluation clips ---------------------------------

DOWNSTREAM_SPEC = {"seed": 0, "width": 0.125, "classes": 5, "gallery": 10, "queries": 6, "clips": 10,
                   "input_size": [16, 32, 32], "input_seed": 5}
EVAL_LENGTHS = [29, 37, 100, 186, 250]  # UCF101's shortest video has 29 frames


def downstream_inputs(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(videos, clips, 3, T, H, W) network inputs (cropped and normalised already) and their labels;
    the first ``gallery`` videos are the retrieval gallery (train), the rest the queries (test)."""
    g = torch.Generator().manual_seed(spec["input_seed"])
    n = spec["gallery"] + spec["queries"]
    clips = torch.randn(n, spec["clips"], 3, *spec["input_size"], generator=g)
    return clips, torch.randint(spec["classes"], (n,), generator=g)


def retrieval_probe(spec: dict[str, Any]) -> torch.Tensor:
    """(videos, clips, 32) per-clip features for the R@k comparison: random network features are
    nearly parallel (cosines within 1e-4 of each other), so ranks would hang on rounding."""
    g = torch.Generator().manual_seed(spec["input_seed"] + 1)
    return torch.randn(spec["gallery"] + spec["queries"], spec["clips"], 32, generator=g, dtype=torch.float64)


def ours_downstream(spec: dict[str, Any]) -> dict[str, Any]:
    """Our fine-tuning logits per query video (``FineTuner`` evaluation: logits averaged over clips)
    and retrieval (``RetrievalEvaluator`` features averaged over clips, R@k of queries in the gallery),
    from weights seeded by ``spec['seed']``."""
    from vssl_bench.evaluation.finetune import FineTuner
    from vssl_bench.evaluation.retrieval import RetrievalEvaluator, recall_at_k

    torch.manual_seed(spec["seed"])
    tuner = FineTuner(backbone=spec["backbone"], backbone_width=spec["width"], num_classes=spec["classes"]).eval()
    initial = fingerprint(tuner)
    clips, labels = downstream_inputs(spec)
    gallery = spec["gallery"]

    def batch(lo: int, hi: int) -> dict[str, torch.Tensor]:
        return {"video": clips[lo:hi], "index": torch.arange(lo, hi), "label": labels[lo:hi],
                "valid": torch.ones(hi - lo, dtype=torch.bool)}

    with torch.no_grad():
        tuner._eval_step(batch(gallery, len(clips)))
        logits = tuner._outputs.pop()["logits"]
        retrieval = RetrievalEvaluator(backbone=spec["backbone"], backbone_width=spec["width"], pool=spec["pool"]).eval()
        retrieval.backbone.load_state_dict(tuner.backbone.state_dict())
        retrieval.test_step(batch(0, gallery), 0, 0)
        retrieval.test_step(batch(gallery, len(clips)), 0, 1)
    g, q = (retrieval._features[i][0]["feature"] for i in (0, 1))
    probe = retrieval_probe(spec).mean(1)
    recall = recall_at_k(probe[gallery:], labels[gallery:], probe[:gallery], labels[:gallery])
    return {"initial": initial, "logits": summarize({f"video{i}": v for i, v in enumerate(logits)}),
            "features": summarize({f"video{i}": v for i, v in enumerate(torch.cat([g, q]))}),
            "recall": {k: [v, v] for k, v in recall.items()}}


def ours_eval_starts(lengths: list[int], rounding: str) -> dict[str, list[int]]:
    from vssl_bench.data.sampling import EvenClipsSampler

    sampler = EvenClipsSampler(16, 10, rounding=rounding)
    return {str(n): [int(c[0]) for c in sampler(n, np.random.default_rng(0))[0]] for n in lengths}


# --- the official side (needs the checkout) ---------------------------------------------------------------

def narrowed_nn(width: float) -> types.ModuleType:
    """A copy of ``torch.nn`` whose channel-carrying layers scale their channel counts by ``width``."""
    proxy = types.ModuleType("nn_narrowed")
    proxy.__dict__.update(nn.__dict__)

    def c(n: int) -> int:
        return n if n == 3 else max(1, int(round(n * width)))

    proxy.Conv3d = lambda i, o, *a, **k: nn.Conv3d(c(i), c(o), *a, **k)
    proxy.ConvTranspose3d = lambda i, o, *a, **k: nn.ConvTranspose3d(c(i), c(o), *a, **k)
    proxy.BatchNorm3d = lambda n, *a, **k: nn.BatchNorm3d(c(n), *a, **k)
    proxy.Linear = lambda i, o, *a, **k: nn.Linear(c(i), o, *a, **k)
    return proxy


class _Anything:
    """What a stubbed module hands out: callable, with any attribute, itself such a thing (even a
    base class: a class statement over it gives another one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return _Anything()

    def __getattr__(self, name: str) -> _Anything:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


STUBS = ("cv2", "skvideo", "skvideo.io", "ffmpeg", "matplotlib", "matplotlib.pyplot", "tensorboardX", "tqdm", "pyhocon")


@contextmanager
def official_code(path: Path, packages: tuple[str, ...], extra_stubs: tuple[str, ...] = ()):
    """Import from an official checkout: its folder first on ``sys.path``, modules it imports but this
    comparison never calls stubbed, and its top-level packages forgotten afterwards (the repositories
    reuse names such as ``models``)."""
    def anything(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Anything()

    added = [name for name in STUBS + extra_stubs if name not in sys.modules]
    for name in added:
        module = types.ModuleType(name)
        module.__getattr__ = anything
        sys.modules[name] = module
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))
        for name in list(sys.modules):
            if name.split(".")[0] in packages or name in added:
                del sys.modules[name]


def commit_of(path: Path, given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def official_prp(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The official PRP step: ``PredictDataset.__getitem__`` builds the items (its video reader
    replaced by the case's raw frames at the forced rate, its resize + centre crop by ToTensor on frames
    already 112x112), ``SSCN_OneClip`` over the official backbone, ``Motion_MSEloss_NoFakeGt`` + 0.1 CE,
    the SGD groups of ``train_predict.main`` (fc8 at 10x)."""
    width = spec["width"]
    with official_code(path, ("models", "datasets", "config", "train_predict", "visualze")):
        from torchvision import transforms

        r3d, c3d, net_part, sscn = (importlib.import_module(f"models.{m}") for m in ("r3d", "c3d", "net_part", "sscn"))
        for module in (r3d, c3d, net_part, sscn):
            module.nn = narrowed_nn(width)
        predict_dataset = importlib.import_module("datasets.predict_dataset")
        train_predict = importlib.import_module("train_predict")
        config = importlib.import_module("config")

        ours = seeded_model("prp", spec)
        initial = fingerprint(ours)
        base = (r3d.R3DNet((1, 1, 1, 1), with_classifier=False) if ours.hparams.backbone == "r3d10"
                else c3d.C3D(with_classifier=False))
        official = sscn.SSCN_OneClip(base_network=base, with_classifier=True, num_classes=4)
        names = prp_names(ours)
        state = official.state_dict()
        mapped = {names[k]: v for k, v in ours.state_dict().items()}
        missing = [k for k in state if k not in mapped]
        assert all(k.endswith(".bias") and "conv3d.0" in k for k in missing), missing  # conv bias before BN
        state.update(mapped)
        for k in missing:
            state[k] = torch.zeros_like(state[k])
        official.load_state_dict(state, strict=True)

        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "split").mkdir()
            (Path(root) / "split" / "trainlist01.txt").write_text("".join(f"v{i}.avi 1\n" for i in range(4)))
            (Path(root) / "split" / "testlist01.txt").write_text("v0.avi\n")
            dataset = predict_dataset.PredictDataset(root, mode="train")
        dataset.transforms = transforms.Compose([transforms.ToTensor()])
        videos = prp_raw_videos(spec)
        labels = [dataset.sample_step_list.index(s) for s in spec["rates"]]
        dataset.loadcvvideo_Finsert = lambda index, recon_rate=None, sample_step=None: (
            list(videos[index][:-1]), labels[index])
        items = [dataset[i] for i in range(len(videos))]
        sample_clip, recon_clip, step_label, _, motion_mask, recon_flags = torch.utils.data.default_collate(items)

        official.train()
        lr = train_predict.learning_rate
        groups = [{"params": [p], "lr": 10 * lr if "fc8" in k else lr} for k, p in official.named_parameters()]
        opt = torch.optim.SGD(groups, momentum=config.params["momentum"], weight_decay=config.params["weight_decay"])
        before = {k: v.detach().clone() for k, v in official.state_dict().items()}
        clip_output, step_output = official(sample_clip)
        loss_recon = train_predict.Motion_MSEloss_NoFakeGt()(clip_output, recon_clip, motion_mask, recon_flags)
        loss_class = nn.CrossEntropyLoss()(step_output, step_label)
        loss = loss_recon + loss_class * 0.1
        opt.zero_grad()
        loss.backward()
        opt.step()
        after = official.state_dict()
        params = dict(official.named_parameters())
        ours_names = {v: k for k, v in names.items()}
        grads = {ours_names[k]: params[k].grad for k in params if k in ours_names}
        update = {ours_names[k]: v for k, v in deltas(before, after).items() if k in ours_names}
        return {"initial": initial,
                "losses": {"loss": loss.item(), "reconstruction": loss_recon.item(), "rate_ce": loss_class.item()},
                "grads": summarize(grads), "update": summarize(update),
                "motion_weight": summarize({f"item{i}": w for i, w in enumerate(motion_mask)}),
                "optimizer": {"lr": lr, "fc8_lr": 10 * lr, "momentum": config.params["momentum"],
                              "weight_decay": config.params["weight_decay"]}}


def official_prp_sampling(path: Path, lengths: list[int]) -> dict[str, dict[str, float]]:
    """Exact probabilities of the official ``PredictDataset.loadcvvideo_Finsert`` outcomes for a video of
    each length: ``"<rate>:<first raw frame read>"`` (the frames read checked to be the 16 x rate
    consecutive ones from there), or ``"<rate>:other"`` when it read another video of the list instead.
    Its OpenCV reader is replaced by one that reports the length and hands out frames that carry their
    own index; its ``np.random.randint`` by the enumerating draw."""
    out = {}
    with official_code(path, ("models", "datasets")):
        cv2 = sys.modules["cv2"]
        lengths_by_name = {}

        class Capture:
            def __init__(self, name: str) -> None:
                self.name, self.count = Path(name).name, 0

            def get(self, prop: int) -> int:
                return lengths_by_name[self.name]

            def read(self):
                if self.count >= lengths_by_name[self.name]:
                    return False, None
                self.count += 1
                return True, np.array([[[self.count - 1, self.name == "other.avi", 0]]])

            def release(self) -> None:
                pass

        cv2.VideoCapture, cv2.CAP_PROP_FRAME_COUNT, cv2.COLOR_BGR2RGB = Capture, 7, 4
        cv2.cvtColor = lambda frame, code: frame
        predict_dataset = importlib.import_module("datasets.predict_dataset")
        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "split").mkdir()
            (Path(root) / "split" / "trainlist01.txt").write_text("this.avi 1\nother.avi 1\n")
            (Path(root) / "split" / "testlist01.txt").write_text("this.avi\n")
            dataset = predict_dataset.PredictDataset(root, mode="train")
        for n in lengths:
            lengths_by_name.update({"this.avi": n, "other.avi": 1000})

            def program(draw) -> str:
                proxy = types.ModuleType("numpy_draws")
                proxy.__dict__.update(np.__dict__)
                proxy.random = types.SimpleNamespace(randint=lambda low, high=None: draw(0, low) if high is None else draw(low, high))
                predict_dataset.np = proxy
                buffer, label = dataset.loadcvvideo_Finsert(0, recon_rate=2)
                s = dataset.sample_step_list[label]
                frames = np.array([f[0, 0, 0] for f in buffer])
                assert len(frames) == 16 * s and np.all(np.diff(frames) == 1)
                return f"{s}:other" if buffer[0][0, 0, 1] else f"{s}:{int(frames[0])}"

            out[str(n)] = Draws().run(program)
    return out


def official_pace(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The official Pace step: the model of ``train.py`` (``r3d.R3DNet`` / ``c3d.C3D`` with 4 classes),
    ``nn.CrossEntropyLoss`` and its ``optim.SGD(model.parameters(), lr, momentum=0.9,
    weight_decay=0.005)`` at the README's lr (0.001)."""
    with official_code(path, ("models", "datasets", "utils")):
        ours = seeded_model("pace", spec)
        initial = fingerprint(ours)
        module = importlib.import_module(f"models.{'r3d' if ours.hparams.backbone == 'r3d10' else 'c3d'}")
        official = module.R3DNet(num_classes=4) if ours.hparams.backbone == "r3d10" else module.C3D(num_classes=4)
        names = pace_names(ours)
        official.load_state_dict({names[k]: v for k, v in ours.state_dict().items()}, strict=True)
        official.train()
        x, labels = pace_input(spec)
        lr = 0.001  # README: --lr 0.001 for every 112 x 112 model
        opt = torch.optim.SGD(official.parameters(), lr=lr, momentum=0.9, weight_decay=0.005)
        before = {k: v.detach().clone() for k, v in official.state_dict().items()}
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(official(x), labels)
        loss.backward()
        opt.step()
        inverse = {v: k for k, v in names.items()}
        grads = {inverse[k]: p.grad for k, p in official.named_parameters()}
        update = {inverse[k]: v for k, v in deltas(before, official.state_dict()).items()}
        return {"initial": initial, "losses": {"loss": loss.item(), "pace_ce": loss.item()}, "grads": summarize(grads),
                "update": summarize(update), "optimizer": {"lr": lr, "momentum": 0.9, "weight_decay": 0.005}}


def official_pace_sampling(path: Path, lengths: list[int]) -> dict[str, dict[str, float]]:
    """Exact probabilities of the official ``ucf101_pace_pretrain.__getitem__`` clips (pace, frames) for
    a video of each length: its ``random.randint`` replaced by the enumerating draw, ``cv2.imread`` by a
    reader whose frame carries its own number, the transforms and colour jitter by identities."""
    out = {}
    with official_code(path, ("models", "datasets", "utils")):
        cv2 = sys.modules["cv2"]
        cv2.imread = lambda name: np.full((1, 1, 3), int(Path(name).stem.removeprefix("frame")) - 1, np.int64)
        ucf101 = importlib.import_module("datasets.ucf101")
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as f:
            f.write("v 0 1\n")
        dataset = ucf101.ucf101_pace_pretrain(f.name, "rgb", 16, 4, transforms_=lambda c: c,
                                              color_jitter_=lambda frame: frame)
        Path(f.name).unlink()
        dataset.toPIL = lambda frame: frame
        for n in lengths:
            dataset.rgb_lines = [f"v 0 {n}\n"]

            def program(draw) -> str:
                ucf101.random = types.SimpleNamespace(randint=lambda a, b: draw(a, b + 1))
                clip, label = dataset[0]
                return pace_key(label + 1, clip[0, :, 0, 0])

            out[str(n)] = Draws().run(program)
    return out


def official_rspnet(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The official RSPNet step as ``pretrain.py`` wires it, on one process (a one-rank gloo group for
    its all_gather and broadcast; ``.cuda()`` a no-op): ``MoCoDiffLossTwoFc`` over ``MultiTaskWrapper``
    (linear heads) with the ``moco-train-base`` settings, ``Loss(margin=2.0, A=1, M=1)``, SGD with the
    ``sgd.libsonnet`` settings at ``scale_learning_rate(lr, 1, batch)``."""
    import torch.distributed as dist

    if not dist.is_initialized():
        with tempfile.NamedTemporaryFile(delete=False) as f:
            dist.init_process_group("gloo", init_method=f"file://{f.name}", rank=0, world_size=1)
    with official_code(path, ("models", "moco", "framework", "datasets", "utils", "arguments")):
        builder = importlib.import_module("moco.builder_diffspeed_diffloss")
        wrapper = importlib.import_module("moco.split_wrapper")
        environment = importlib.import_module("framework.utils.environment")
        ours = rspnet_model(spec)
        initial = fingerprint(ours)
        name = ours.hparams.backbone
        module = importlib.import_module("models.c3d" if name == "c3d" else "models.r2plus1d_vcop")
        module.nn = wrapper.nn = narrowed_nn(spec["width"])
        if name == "c3d":
            base = module.C3D
        else:
            def base(num_classes: int = 128):
                return module.R2Plus1DNet((1, 1, 1, 1), with_classifier=True, num_classes=num_classes)

        def model_class(num_classes: int = 128):
            return wrapper.MultiTaskWrapper(base, num_classes=num_classes, fc_type="linear", finetune=False, groups=1)

        hp = ours.hparams
        official = builder.MoCoDiffLossTwoFc(model_class, dim=hp.proj_dim, K=hp.queue_size, m=hp.key_momentum,
                                             T=hp.temperature, diff_speed=[hp.speed_ratio])
        names = rspnet_names(ours)
        state = official.state_dict()
        mapped = {names[k]: v for k, v in ours.state_dict().items() if k in names}
        unmapped = set(state) - set(mapped) - {"queue", "queue_ptr"}
        assert all(".linear." in k for k in unmapped), unmapped  # the backbones' unused classifiers
        mapped["queue"] = ours.queue.features.T.clone()  # official (dim, K), ours (K, dim)
        mapped["queue_ptr"] = torch.tensor([spec["queue_pointer"]])
        official.load_state_dict(state | mapped, strict=True)
        official.train()
        im_q, im_k, _ = rspnet_windows(spec)
        sgd = {"lr": 0.1 if name == "c3d" else 0.05, "momentum": 0.9, "dampening": 0, "weight_decay": 1e-4,
               "nesterov": False}  # sgd.libsonnet; the R(2+1)D config sets lr 0.05
        lr = environment.scale_learning_rate(sgd["lr"], 1, spec["batch"])
        opt = torch.optim.SGD(official.parameters(), **(sgd | {"lr": lr}))
        criterion = builder.Loss(margin=2.0, A=1.0, M=1.0)
        before = {k: v.detach().clone() for k, v in official.state_dict().items()}
        cuda = torch.Tensor.cuda
        torch.Tensor.cuda = lambda self, *a, **k: self
        try:
            torch.manual_seed(spec["shuffle_seed"])
            output, target, ranking_logits, ranking_target = official(im_q, im_k)
        finally:
            torch.Tensor.cuda = cuda
        # torch >= 2 refuses the (N, 1) scores against (N,) targets the code relied on (old torch
        # broadcast them to N x N); every target is 1, so an (N, 1) target gives the same value
        loss, loss_a, loss_m = criterion(output, target, ranking_logits, ranking_target.view(-1, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        inverse = {v: k for k, v in names.items()}
        params = dict(official.named_parameters())
        grads = {inverse[k]: p.grad for k, p in params.items() if p.grad is not None and k in inverse}
        update = {inverse[k]: v for k, v in deltas(before, official.state_dict()).items() if k in inverse}
        ce = nn.CrossEntropyLoss()
        return {"initial": initial, "losses": {"loss": loss.item(), "avid_same_speed": ce(output[0], target).item(),
                           "avid_other_speed": ce(output[1], target).item(), "rsp_ranking": loss_m.item()},
                "grads": summarize(grads), "update": summarize(update), "lr": {"base": lr},
                "queue": summarize({"features": official.queue.T}) | {"pointer": [int(official.queue_ptr)] * 2},
                "optimizer": sgd | {"lr_scaled": lr}}


def rspnet_names(model) -> dict[str, str]:
    """Our tensor name -> the official one: backbones by the layer table under ``encoder_q`` /
    ``encoder_k``, the heads as ``fc1`` (A) and ``fc2`` (M), the queue (transposed there)."""
    backbone = model.backbone.state_dict()
    official = to_official(backbone, "rspnet", model.hparams.backbone)["model"]
    inverse = {id(v): k.removeprefix("encoder_q.encoder.") for k, v in official.items()}
    names = {}
    for k, v in backbone.items():
        names[f"backbone.{k}"] = f"encoder_q.encoder.{inverse[id(v)]}"
        names[f"key_backbone.{k}"] = f"encoder_k.encoder.{inverse[id(v)]}"
    for ours_head, head in (("head_a", "fc1"), ("head_m", "fc2")):
        for t in ("weight", "bias"):
            names[f"{ours_head}.fc.{t}"] = f"encoder_q.{head}.2.{t}"
            names[f"key_{ours_head}.fc.{t}"] = f"encoder_k.{head}.2.{t}"
    return names


def official_rspnet_sampling(path: Path, lengths: list[int]) -> dict[str, dict[str, float]]:
    """Exact probabilities of (speed, q, k, k-) for one video as the official code makes them:
    ``VideoDataset.__getitem__`` draws two windows with ``RandomStrideCrop(32)`` (``random.randint``
    replaced by the enumerating draw; the reader reports the length and returns frame numbers), then
    ``MoCoDiffLossTwoFc._diff_speed`` plays half the batch fast: for one video a fair coin (its
    ``randperm`` split is symmetric), q = window 1 and k = window 2 at that speed (1x: the first 16 frames;
    2x: every second frame), k- = window 2 at the other."""
    out = {}
    with official_code(path, ("datasets", "decord")):
        lengths_now = {}

        class Reader:
            def __init__(self, *a, **k) -> None:
                pass

            def __len__(self) -> int:
                return lengths_now["n"]

            def get_batch(self, indices) -> torch.Tensor:
                return torch.as_tensor(np.asarray(indices))

        sys.modules["decord"] = types.SimpleNamespace(VideoReader=Reader, bridge=types.SimpleNamespace(
            set_bridge=lambda name: None))
        temporal = importlib.import_module("datasets.transforms_video.transforms_temporal")
        video = importlib.import_module("datasets.classification.video")
        crop = temporal.RandomStrideCrop(32, strides=[{"stride": 1, "weight": 1}])
        dataset = video.VideoDataset([video.Sample("v.mp4", 0)], temporal_transform=crop,
                                     spatial_transform=lambda clip: clip, num_clips_per_sample=2)
        for n in lengths:
            lengths_now["n"] = n

            def program(draw) -> str:
                temporal.random = types.SimpleNamespace(randint=lambda a, b: draw(a, b + 1), random=lambda: 0.5)
                (w1, w2), _ = dataset[0]
                fast = draw(0, 2)
                slow_idx, fast_idx = np.arange(16), np.arange(0, 32, 2)
                speed, other = (fast_idx, slow_idx) if fast else (slow_idx, fast_idx)
                return rspnet_key(fast, w1.numpy()[speed], w2.numpy()[speed], w2.numpy()[other])

            out[str(n)] = Draws().run(program)
    return out


def _cosine_distances(a, b):
    """sklearn's ``cosine_distances`` (1 - cosine similarity), for code that imports it."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - a @ b.T


def _load_backbone(official: nn.Module, prefix: str, ours: nn.Module, layout: str, backbone: str,
                   extra: dict[str, torch.Tensor]) -> None:
    """Our backbone (and ``extra`` tensors) into an official module whose backbone sits under ``prefix``;
    official tensors we have no counterpart for (unused classifiers) keep their values."""
    state = to_official(ours.state_dict(), layout, backbone)
    state = state.get("model", state)
    mapped = {prefix + k.removeprefix(PREFIXES[layout]): v for k, v in state.items()} | extra
    current = official.state_dict()
    assert set(mapped) <= set(current), set(mapped) - set(current)
    official.load_state_dict(current | mapped, strict=True)


def official_rspnet_downstream(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """RSPNet's evaluation code on the same weights and clips: ``finetune.py`` (``MultiTaskWrapper``
    with ``finetune=True``, logits averaged over the clips) and ``retrieval.py``
    (``Engine.extract_features_train/test``: ``get_feature``, global average pool, mean over clips;
    ``save_features``; ``topk_retrieval``), and the evaluation clips of ``EvenNCrop(16, n=10)``.
    Written out here, as the current torch cannot run them: the named-tensor reshapes that fold the
    clips into the batch and average them, and sklearn's ``cosine_distances`` (not installed)."""
    from vssl_bench.evaluation.finetune import FineTuner

    extra_stubs = ("sklearn", "sklearn.metrics", "sklearn.metrics.pairwise", "pyhocon.config_tree", "typed_args",
                   "decord", "torch.utils.tensorboard", "arguments", "framework.arguments", "framework.config")
    with official_code(path, ("models", "moco", "framework", "datasets", "utils", "retrieval", "finetune"), extra_stubs):
        wrapper = importlib.import_module("moco.split_wrapper")
        c3d = importlib.import_module("models.c3d")
        retrieval = importlib.import_module("retrieval")
        temporal = importlib.import_module("datasets.transforms_video.transforms_temporal")
        wrapper.nn = c3d.nn = narrowed_nn(spec["width"])
        retrieval.cosine_distances = _cosine_distances
        torch.manual_seed(spec["seed"])
        tuner = FineTuner(backbone="c3d", backbone_width=spec["width"], num_classes=spec["classes"])
        initial = fingerprint(tuner)
        head = tuner.classifier[1]
        model = wrapper.MultiTaskWrapper(c3d.C3D, num_classes=spec["classes"], finetune=True)
        _load_backbone(model, "encoder.", tuner.backbone, "rspnet", "c3d",
                       {"fc.weight": head.weight.detach(), "fc.bias": head.bias.detach()})
        base = c3d.C3D(num_classes=spec["classes"])  # retrieval.py: ModelFactory.build -> the plain network
        _load_backbone(base, "", tuner.backbone, "rspnet", "c3d", {})
        model.eval()
        clips, labels = downstream_inputs(spec)
        n, gallery = spec["clips"], spec["gallery"]
        joined = clips.permute(0, 2, 1, 3, 4, 5).flatten(2, 3)  # the loader's (B, C, n_crop x T, H, W)
        with torch.no_grad():  # EpochContext.reshape_clip / average_logits use named tensors, gone from
            # torch 2: the same reshapes (time split into (crop, time), crops folded into the batch; mean
            # over crops) in plain operations
            b, c, _, h, w = joined[gallery:].shape
            folded = joined[gallery:].view(b, c, n, -1, h, w).transpose(1, 2).reshape(b * n, c, -1, h, w)
            logits = model(folded).view(b, n, -1).mean(1)
        engine = types.SimpleNamespace(model=types.SimpleNamespace(module=base, eval=base.eval), n_crop=n,
                                       train_loader=[((joined[:gallery],), labels[:gallery])],
                                       val_loader=[((joined[gallery:],), labels[gallery:])],
                                       train_feat_list=[], train_label_list=[], test_feat_list=[],
                                       test_label_list=[], cfg=types.SimpleNamespace(get_int=lambda key: 1))
        engine.reshape_clip = lambda clip: clip.view(clip.shape[0], clip.shape[1], n, -1, *clip.shape[3:]).transpose(
            1, 2).reshape(clip.shape[0] * n, clip.shape[1], -1, *clip.shape[3:])  # as above
        engine.average_clips = lambda features: features.view(-1, n, features.shape[-1]).mean(1)
        retrieval.Engine.extract_features_train(engine)
        retrieval.Engine.extract_features_test(engine)
        features = np.concatenate(engine.train_feat_list + engine.test_feat_list)
        probe = retrieval_probe(spec).mean(1).numpy()  # R@k on well-separated features (as save_features lays out)
        engine.train_feat_list, engine.test_feat_list = [probe[:gallery].tolist()], [probe[gallery:].tolist()]
        with tempfile.TemporaryDirectory() as folder:
            retrieval.Engine.save_features(engine, folder)
            retrieval.topk_retrieval(folder, engine.cfg)
            correct = json.loads((Path(folder) / "topk_correct_fold1.json").read_text())
        crop = temporal.EvenNCrop(16, 1, 10)
        starts = {str(length): crop(np.arange(length))[::16].tolist() for length in EVAL_LENGTHS}
    recall = {f"R@{k}": 100 * v / spec["queries"] for k, v in correct.items()}
    return {"initial": initial, "logits": summarize({f"video{i}": v for i, v in enumerate(logits)}),
            "features": summarize({f"video{i}": torch.as_tensor(v) for i, v in enumerate(features)}),
            "recall": {k: [v, v] for k, v in recall.items()}, "eval_starts": starts}


def official_prp_downstream(path: Path, vcop: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """PRP's evaluation on the same weights and clips: ``test_classify.test`` (the fine-tuned C3D on
    every clip of a video, logits averaged), and VCOP's retrieval as PRP runs it (``retrieve_clips.py``:
    per-clip features of PRP's C3D with ``return_feature`` (conv5 max-pooled (1, 2, 2), flattened),
    mean over the 10 clips, cosine ``topk_retrieval``); the evaluation clips of PRP's
    ``ClassifyDataSet.gettest`` and VCOP's ``UCF101ClipRetrievalDataset``."""
    from vssl_bench.evaluation.finetune import FineTuner

    with official_code(path, ("models", "datasets")):
        c3d = importlib.import_module("models.c3d")
        net_part = importlib.import_module("models.net_part")
        predict_dataset = importlib.import_module("datasets.predict_dataset")
        c3d.nn = net_part.nn = narrowed_nn(spec["width"])
        torch.manual_seed(spec["seed"])
        tuner = FineTuner(backbone="c3d", backbone_width=spec["width"], num_classes=spec["classes"])
        initial = fingerprint(tuner)
        head = tuner.classifier[1]
        classifier = c3d.C3D(with_classifier=True, num_classes=spec["classes"])
        _load_backbone(classifier, "", tuner.backbone, "prp", "c3d",
                       {"linear.weight": head.weight.detach(), "linear.bias": head.bias.detach()})
        extractor = c3d.C3D(with_classifier=False, return_feature=True)
        _load_backbone(extractor, "", tuner.backbone, "prp", "c3d", {})
        test = types.SimpleNamespace(toPIL=lambda frame: frame, transforms=lambda frame: torch.as_tensor(frame))
        prp_starts = {str(n): [int(c[0, 0, 0, 0]) for c in predict_dataset.ClassifyDataSet.gettest(
            test, np.arange(n).reshape(n, 1, 1, 1))] for n in EVAL_LENGTHS}
    clips, labels = downstream_inputs(spec)
    gallery = spec["gallery"]
    classifier.eval()
    extractor.eval()
    with torch.no_grad():
        logits = torch.stack([classifier(video).mean(dim=0) for video in clips[gallery:]])  # test_classify.test
        features = torch.stack([extractor(video) for video in clips])  # (videos, 10, D): extract_feature
    with official_code(vcop, ("models", "datasets", "retrieve_clips"),
                       ("sklearn", "sklearn.neighbors", "sklearn.metrics", "sklearn.metrics.pairwise")):
        retrieve = importlib.import_module("retrieve_clips")
        ucf101 = importlib.import_module("datasets.ucf101")
        retrieve.cosine_distances = _cosine_distances
        with tempfile.TemporaryDirectory() as folder:
            probe = retrieval_probe(spec).numpy()  # R@k on well-separated features, laid out as extract_feature
            for split, lo, hi in (("train", 0, gallery), ("test", gallery, len(clips))):
                np.save(Path(folder) / f"{split}_feature.npy", probe[lo:hi])
                np.save(Path(folder) / f"{split}_class.npy", labels[lo:hi, None].expand(-1, spec["clips"]).numpy())
            retrieve.topk_retrieval(types.SimpleNamespace(feature_dir=folder))
            correct = json.loads((Path(folder) / "topk_correct.json").read_text())
        vcop_starts = {}
        for n in EVAL_LENGTHS:
            sys.modules["skvideo.io"].vread = lambda name, n=n: np.arange(n).reshape(n, 1, 1, 1)
            ucf101.skvideo = types.SimpleNamespace(io=sys.modules["skvideo.io"])
            dataset = types.SimpleNamespace(train=True, train_split=["A/v.avi"], class_label2idx={"A": 1}, root_dir="",
                                            clip_len=16, sample_num=10, transforms_=None)
            item = ucf101.UCF101ClipRetrievalDataset.__getitem__(dataset, 0)
            vcop_starts[str(n)] = [int(c[0, 0, 0, 0]) for c in item[0]]
    recall = {f"R@{k}": 100 * v / spec["queries"] for k, v in correct.items()}
    return {"initial": initial, "logits": summarize({f"video{i}": v for i, v in enumerate(logits)}),
            "features": summarize({f"video{i}": v for i, v in enumerate(features.mean(1))}),
            "recall": {k: [v, v] for k, v in recall.items()},
            "eval_starts": {"prp_test": prp_starts, "vcop_retrieval": vcop_starts}}


def sampling_tv(official: dict[str, dict[str, float]], ours) -> dict[str, float]:
    """Total variation distance between the official and our outcome distributions, per video length."""
    report = {}
    for n, dist in official.items():
        mine = ours(int(n))
        keys = set(dist) | set(mine)
        report[n] = 0.5 * sum(abs(dist.get(k, 0.0) - mine.get(k, 0.0)) for k in keys)
    return report


def close(ref: Any, got: Any, rtol: float, atol: float = 0.0) -> float:
    """How far ``got`` is from ``ref`` in units of the tolerance ``rtol * |ref| + atol`` (<= 1 passes):
    a number, or a ``[norm, checksum]`` pair measured against the norm."""
    if isinstance(ref, list):
        return max(abs(a - b) for a, b in zip(ref, got)) / (rtol * abs(ref[0]) + atol or 1e-30)
    return abs(ref - got) / (rtol * abs(ref) + atol or 1e-30)


TOLERANCE = {"initial": (1e-6, 0.0), "losses": (1e-5, 1e-6), "grads": (1e-4, 1e-5), "update": (1e-4, 1e-5),
             "motion_weight": (1e-5, 0.0), "queue": (1e-5, 0.0), "lr": (1e-9, 0.0), "logits": (1e-5, 1e-6),
             "features": (1e-5, 1e-6), "recall": (1e-6, 0.0)}
"""Per section: relative tolerance, and an absolute one as a fraction of the section's largest value (for
values that are zero but for rounding: the gradient of a convolution bias followed by BatchNorm; a
near-zero InfoNCE term beside a ranking loss of 2)."""


def compare(official: dict[str, Any], ours: dict[str, Any]) -> dict[str, float]:
    """Per section: the worst ratio of a difference to its tolerance (<= 1 passes)."""
    report = {}
    for section, (rtol, atol) in TOLERANCE.items():
        if section not in official:
            continue
        largest = max(abs(v[0] if isinstance(v, list) else v) for v in official[section].values())
        report[section] = max(close(ref, ours[section][name], rtol, atol * largest)
                              for name, ref in official[section].items())
    return report


def write(method: str, commit: str, files: list[str], blob: dict[str, Any], out: Path, name: str | None = None) -> None:
    blob = {"source": {"repository": f"https://github.com/{OFFICIAL_REPOS[method]}", "commit": commit, "files": files},
            "generated_by": "tests/official/official_reference.py"} | blob
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name or method}.json").write_text(json.dumps(blob, indent=1) + "\n")


DOWNSTREAM_FILES = {
    "rspnet": ["finetune.py", "retrieval.py", "moco/split_wrapper.py", "models/c3d.py",
               "datasets/transforms_video/transforms_temporal.py"],
    "prp": ["test_classify.py", "datasets/predict_dataset.py", "models/c3d.py", "models/net_part.py"],
}
VCOP_FILES = ["retrieve_clips.py", "datasets/ucf101.py"]


def downstream(method: str, path: Path, vcop: Path | None, commits: dict[str, str]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The downstream fixture of RSPNet (its fine-tuning and retrieval code) or PRP (its test code and
    VCOP's retrieval), with a report of how far ours is."""
    spec = DOWNSTREAM_SPEC | {"backbone": "c3d", "pool": "avg" if method == "rspnet" else "vcop"}
    official = (official_rspnet_downstream(path, spec) if method == "rspnet"
                else official_prp_downstream(path, vcop, spec))
    report = compare(official, ours_downstream(spec))
    ours_round, ours_floor = ours_eval_starts(EVAL_LENGTHS, "round"), ours_eval_starts(EVAL_LENGTHS, "floor")
    starts = official["eval_starts"]
    if method == "rspnet":
        report["eval_starts_equal_round"] = starts == ours_round
    else:
        report["eval_starts_equal_floor"] = starts["prp_test"] == ours_floor == starts["vcop_retrieval"]
        report["eval_starts_equal_round"] = starts["prp_test"] == ours_round
    blob = {"case": spec, "official": official}
    if method == "prp":
        blob["also_source"] = {"repository": f"https://github.com/{OFFICIAL_REPOS['vcop']}",
                               "commit": commit_of(vcop, commits.get("vcop")), "files": VCOP_FILES}
    return blob, report


def reference(method: str, path: Path, width: float | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fixture of one method (every recipe's step; the sampler's outcome probabilities where the
    method has them) and a report of how far ours is from it."""
    recipes, base, official_step, our_step, sampling = METHOD_CASES[method]
    cases, report = [], {}
    for recipe, changes in recipes.items():
        spec = base | changes | {"recipe": recipe} | ({"width": width} if width else {})
        official = official_step(path, spec)
        report[recipe] = compare(official, our_step(spec)) | {"official_losses": official["losses"]}
        cases.append({"case": spec, "official": official})
    blob = {"steps": cases}
    if sampling is not None:
        official_sampling, ours_sampling, lengths = sampling
        blob["sampling"] = official_sampling(path, lengths)
        report["sampling_tv"] = sampling_tv(blob["sampling"], ours_sampling)
    return blob, report


METHOD_CASES = {
    "prp": (PRP_RECIPES, PRP_SPEC, official_prp, ours_prp, (official_prp_sampling, ours_prp_sampling, PRP_LENGTHS)),
    "pace": (dict.fromkeys(PACE_RECIPES, {}), PACE_SPEC, official_pace, ours_pace,
             (official_pace_sampling, ours_pace_sampling, PACE_LENGTHS)),
    "rspnet": (RSPNET_RECIPES, RSPNET_SPEC, official_rspnet, ours_rspnet,
               (official_rspnet_sampling, ours_rspnet_sampling, RSPNET_LENGTHS)),
}
METHOD_FILES = {"prp": PRP_FILES, "pace": PACE_FILES, "rspnet": RSPNET_FILES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prp", type=Path, help="a checkout of yuanyao366/PRP")
    parser.add_argument("--pace", type=Path, help="a checkout of laura-wang/video-pace")
    parser.add_argument("--rspnet", type=Path, help="a checkout of PeihaoChen/RSPNet")
    parser.add_argument("--vcop", type=Path, help="a checkout of xudejing/video-clip-order-prediction (PRP's retrieval)")
    parser.add_argument("--commits", nargs="*", default=[], help="method=commit, when the checkouts are not git trees")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--width", type=float, default=None, help="override the cases' width (1 = paper networks)")
    parser.add_argument("--dry-run", action="store_true", help="compare and print, write nothing")
    args = parser.parse_args()
    commits = dict(c.split("=", 1) for c in args.commits)
    report = {}
    with redirect_stdout(sys.stderr):  # the official code prints; stdout carries the report alone
        build_all(args, commits, report)
    print(json.dumps(report, indent=1))


def build_all(args: argparse.Namespace, commits: dict[str, str], report: dict[str, Any]) -> None:
    for method, files in METHOD_FILES.items():
        path = getattr(args, method)
        if path is None:
            continue
        blob, report[method] = reference(method, path, args.width)
        if not args.dry_run:
            write(method, commit_of(path, commits.get(method)), files, blob, args.out)
    for method, files in DOWNSTREAM_FILES.items():
        path = getattr(args, method)
        if path is None or (method == "prp" and args.vcop is None):
            continue
        blob, report[f"{method}_downstream"] = downstream(method, path, args.vcop, commits)
        if not args.dry_run:
            write(method, commit_of(path, commits.get(method)), files, blob, args.out, f"{method}_downstream")


if __name__ == "__main__":
    main()

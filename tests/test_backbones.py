from __future__ import annotations

import pytest
import torch

from vssl_bench.backbones import build_backbone, list_backbones
from vssl_bench.errors import ConfigError

PAPER_COUNTS = {
    "c3d": 27_661_440,
    "r3d10": 14_361_792,
    "r21d10": 14_365_303,
    "r3d18": 33_203_904,
    "s3dg": 8_675_744,
}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_parameter_counts_match_the_official_definitions(name):
    with torch.device("meta"):
        model = build_backbone(name)
    assert trainable(model) == PAPER_COUNTS[name]


@pytest.mark.parametrize(
    ("name", "shape", "fmap"),
    [
        ("c3d", (16, 112, 112), (512, 2, 7, 7)),
        ("r3d10", (16, 112, 112), (512, 2, 7, 7)),
        ("r21d10", (16, 112, 112), (512, 2, 7, 7)),
        ("r3d18", (16, 112, 112), (512, 1, 4, 4)),
        ("s3dg", (16, 112, 112), (1024, 2, 3, 3)),
        ("s3dg", (64, 224, 224), (1024, 8, 7, 7)),
    ],
)
def test_paper_input_sizes_give_the_papers_feature_maps(name, shape, fmap):
    with torch.device("meta"):
        model = build_backbone(name)
        x = torch.empty(2, 3, *shape)
        assert model(x, return_map=True).shape == (2, *fmap)
        assert model(x).shape == (2, model.feature_dim)


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_narrow_width_trains_on_cpu(name):
    torch.manual_seed(0)
    model = build_backbone(name, width=0.125)
    assert trainable(model) < 1_000_000
    x = torch.randn(2, 3, 8, 32, 32).to(memory_format=torch.channels_last_3d)
    features = model(x)
    assert features.shape == (2, model.feature_dim) and torch.isfinite(features).all()
    features.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_bf16_autocast_forward_on_cpu():
    model = build_backbone("r3d10", width=0.125)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 3, 8, 32, 32))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_registry_lists_and_rejects_unknown_names():
    assert list_backbones() == ["c3d", "r21d10", "r3d10", "r3d18", "s3dg"]
    with pytest.raises(ConfigError, match="resnet50"):
        build_backbone("resnet50")


def test_bn_momentum_override_reaches_every_batchnorm():
    from torch import nn

    def momenta(model):
        return {m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}

    assert momenta(build_backbone("s3dg", width=0.125)) == {0.001}  # RSPNet's definition
    assert momenta(build_backbone("s3dg", width=0.125, bn_momentum=0.1)) == {0.1}
    assert momenta(build_backbone("c3d", width=0.125, bn_momentum=0.05)) == {0.05}
    with pytest.raises(ConfigError, match="bn_momentum=0"):
        build_backbone("r3d10", width=0.125, bn_momentum=0)

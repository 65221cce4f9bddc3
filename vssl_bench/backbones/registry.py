"""``build_backbone(name, **kw)``: the registry every method and evaluation builds its network from."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vssl_bench.errors import ConfigError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def build_backbone(name: str, bn_momentum: float | None = None, **kwargs) -> nn.Module:
    """A backbone by registry name; keyword arguments go to its constructor (e.g. ``width=0.25``).

    ``bn_momentum`` overrides the running-statistics momentum of every BatchNorm (``None`` keeps the
    paper's: 0.1, or 0.001 in RSPNet's S3D-G, whose statistics need thousands of steps to settle)."""
    if name not in _REGISTRY:
        raise ConfigError(f"backbone {name!r} is unknown; choose one of {', '.join(list_backbones())}.")
    model = _REGISTRY[name](**kwargs)
    if bn_momentum is not None:
        if not 0 < bn_momentum <= 1:
            raise ConfigError(f"bn_momentum={bn_momentum}: use a value in (0, 1].")
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = bn_momentum
    return model


def scaled(channels: int, width: float) -> int:
    """Channels of a narrowed network: at least 1, and exactly ``channels`` at width 1."""
    return max(1, int(round(channels * width)))

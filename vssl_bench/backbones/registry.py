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


def build_backbone(name: str, **kwargs) -> nn.Module:
    """A backbone by registry name; keyword arguments go to its constructor (e.g. ``width=0.25``)."""
    if name not in _REGISTRY:
        raise ConfigError(f"backbone {name!r} is unknown; choose one of {', '.join(list_backbones())}.")
    return _REGISTRY[name](**kwargs)


def scaled(channels: int, width: float) -> int:
    """Channels of a narrowed network: at least 1, and exactly ``channels`` at width 1."""
    return max(1, int(round(channels * width)))

"""Loading pretrained weights into a backbone: never a silent partial load."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vssl_bench.errors import CheckpointMismatchError


def backbone_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Backbone weights from a Lightning ``.ckpt`` of any method here (keys ``backbone.*``) or from a
    plain ``state_dict`` file (with or without the ``backbone.`` prefix)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMismatchError(f"checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointMismatchError(f"{path} is not a PyTorch checkpoint ({exc}).") from exc
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{path} holds no state_dict.")
    prefixed = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return prefixed or state


def load_backbone(backbone: nn.Module, path: str | Path) -> int:
    """Load ``path`` into ``backbone``; returns the number of tensors loaded. Raises with the missing,
    unexpected and mis-shaped keys if the checkpoint does not fit."""
    state = backbone_state(path)
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or misshaped:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "") if keys else "none"

        raise CheckpointMismatchError(
            f"{path} does not fit the {type(backbone).__name__} backbone: missing {len(missing)} [{show(missing)}], "
            f"unexpected {len(unexpected)} [{show(unexpected)}], wrong shape {len(misshaped)} [{show(misshaped)}]. "
            "Use the same backbone name and width as in pretraining."
        )
    backbone.load_state_dict(state, strict=True)
    return len(state)

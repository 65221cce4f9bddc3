"""Loading pretrained weights into a backbone: never a silent partial load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vssl_bench.errors import CheckpointMismatchError
from vssl_bench.evaluation.official_weights import FORMATS, detect_layout, official_backbone_state, to_ours


def read_checkpoint(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointMismatchError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointMismatchError(f"{path} is not a PyTorch checkpoint ({exc}).") from exc


def backbone_state(path: str | Path, fmt: str = "auto", backbone: str | None = None
                   ) -> tuple[dict[str, torch.Tensor], str]:
    """Backbone weights under our keys, and the layout they were read as. ``ours``: a Lightning
    ``.ckpt`` of any method here (keys ``backbone.*``) or a plain ``state_dict`` (with or without the
    ``backbone.`` prefix); ``rspnet`` / ``prp``: the papers' released layouts (``official_weights``);
    ``auto`` recognises which."""
    if fmt not in FORMATS:
        raise CheckpointMismatchError(f"checkpoint_format={fmt!r}: use {', '.join(FORMATS)}.")
    blob = read_checkpoint(path)
    layout = detect_layout(blob) if fmt == "auto" else fmt
    if layout != "ours":
        official = official_backbone_state(blob, layout)
        state, _ = to_ours(official, layout, backbone, source=str(path))
        return state, layout
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{path} holds no state_dict.")
    prefixed = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return prefixed or state, "ours"


def load_backbone(backbone: nn.Module, path: str | Path, fmt: str = "auto", name: str | None = None) -> int:
    """Load ``path`` into ``backbone``; returns the number of tensors loaded. Raises with the missing,
    unexpected and mis-shaped keys if the checkpoint does not fit. ``fmt``/``name``: the checkpoint's
    layout (``auto``, ``ours``, ``rspnet``, ``prp``) and the backbone's registry name."""
    state, layout = backbone_state(path, fmt, name)
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or misshaped:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "") if keys else "none"

        raise CheckpointMismatchError(
            f"{path} (read as the {layout} layout) does not fit the {type(backbone).__name__} backbone: missing "
            f"{len(missing)} [{show(missing)}], unexpected {len(unexpected)} [{show(unexpected)}], wrong shape "
            f"{len(misshaped)} [{show(misshaped)}]. Use the same backbone name and width as in pretraining."
        )
    backbone.load_state_dict(state, strict=True)
    return len(state)

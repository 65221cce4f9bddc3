"""Loading pretrained weights into a backbone: never a silent partial load, never code from a file.

Checkpoints come from the internet (the authors' release assets) as well as from our own runs, and a
pickle can call any function while it loads. Every file is therefore read with PyTorch's
``weights_only`` unpickler: tensors, containers and plain scalars only, plus the few types the
papers' release files are known to hold (``SAFE_TYPES``). A file that needs anything else is refused
with :class:`~vssl_bench.errors.UnsafeCheckpointError` naming the type it asked for.
"""

from __future__ import annotations

import collections
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vssl_bench.errors import CheckpointMismatchError, UnsafeCheckpointError
from vssl_bench.evaluation.official_weights import FORMATS, detect_layout, official_backbone_state, to_ours

# Types beyond PyTorch's weights-only defaults that release files hold: RSPNet's checkpoints carry their
# scheduler's state, whose MultiStepLR milestones are a Counter. Our Lightning checkpoints need none.
SAFE_TYPES: list[type] = [collections.Counter]


def read_checkpoint(path: str | Path) -> Any:
    """The checkpoint's contents, loaded without running code (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMismatchError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(SAFE_TYPES):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = re.search(r"(?:GLOBAL|global) ([\w.]+)", str(exc))
        what = wanted.group(1) if wanted else "a type outside the weights-only allow-list"
        raise UnsafeCheckpointError(
            f"{path} asks to load {what} while unpickling. A checkpoint needs only tensors, containers and plain "
            "numbers, and loading other objects can run code from the file, so it is refused. If you trust the "
            "file, load it yourself and save just its state_dict (torch.save(model.state_dict(), 'weights.pth'))."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any other failure means "not a checkpoint"
        raise CheckpointMismatchError(f"{path} is not a PyTorch checkpoint ({exc}).") from exc


def checked_lightning_checkpoint(path: str | Path | None) -> str | None:
    """``path`` for Lightning's ``ckpt_path`` (resume, or test a selected epoch), after reading it here
    first: Lightning's own load would fail deep inside with a bare unpickling error."""
    if path is None:
        return None
    read_checkpoint(path)
    return str(path)


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

"""The papers' released checkpoints in our backbones, and our backbones in the papers' layouts.

Layouts (what the authors publish):

* ``rspnet``: RSPNet's GitHub release assets (C3D, R(2+1)D, 3D-ResNet-18, S3D-G): a dict whose
  ``model`` entry holds the MoCo model; the backbone is under ``encoder_q.encoder.<official key>``, next
  to the key encoder, the projection heads and the queue, which are not backbone weights.
* ``prp``: PRP's weights (C3D, R3D, R(2+1)D): a plain ``state_dict`` of a ``DataParallel`` model whose
  backbone is under ``module.base_network.<official key>``, next to PRP's heads.

Every official layer maps one to one onto a layer of ours, but not by position (the VCOP ResNets
register their shortcut before ``conv1``, ours after ``bn2``), so the mapping is by name:
``official_layers.json`` lists, per layout and backbone, official layer -> our layer. It was derived
by running each official definition and ours on the same input and pairing their convolution and
BatchNorm layers in execution order (types and shapes must agree), and checked by loading random
official weights into ours: the outputs are identical. Tensor names inside a layer (``weight``,
``bias``, ``running_mean``, ...) are the same on both sides.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import torch

from vssl_bench.errors import CheckpointMismatchError

PREFIXES = {"rspnet": "encoder_q.encoder.", "prp": "module.base_network."}
HEADS = ("fc", "linear")  # classifier layers some official backbones carry; never backbone weights
FORMATS = ("auto", "ours", "rspnet", "prp")


@cache
def layer_tables() -> dict[str, dict[str, dict[str, str]]]:
    """``{layout: {backbone: {official layer: our layer}}}``."""
    return json.loads((Path(__file__).with_name("official_layers.json")).read_text())


def detect_layout(blob: Any) -> str:
    """``rspnet``, ``prp`` or ``ours`` from the checkpoint's structure and key prefixes."""
    if isinstance(blob, dict) and isinstance(blob.get("model"), dict):
        if any(str(k).removeprefix("module.").startswith(PREFIXES["rspnet"]) for k in blob["model"]):
            return "rspnet"
    if isinstance(blob, dict) and any(str(k).startswith(PREFIXES["prp"]) for k in blob):
        return "prp"
    return "ours"


def official_backbone_state(blob: Any, layout: str) -> dict[str, torch.Tensor]:
    """The backbone tensors of an official checkpoint, with the layout's prefix removed."""
    state = blob.get("model", blob) if layout == "rspnet" and isinstance(blob, dict) else blob
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"the checkpoint holds no state_dict to read as the {layout} layout.")
    prefix = PREFIXES[layout]
    out = {}
    for key, value in state.items():
        key = str(key).removeprefix("module.") if layout == "rspnet" else str(key)
        if key.startswith(prefix):
            out[key[len(prefix):]] = value
    if not out:
        raise CheckpointMismatchError(f"no key starts with {prefix!r}: not the {layout} layout. "
                                      "Pass --checkpoint_format ours, rspnet or prp to say which it is.")
    return out


def _show(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")


def to_ours(official: dict[str, torch.Tensor], layout: str, backbone: str | None = None,
            source: str = "the checkpoint") -> tuple[dict[str, torch.Tensor], str]:
    """Rename an official backbone state to our keys; returns (state, backbone name). With no
    ``backbone`` the table whose layers the checkpoint holds exactly is chosen. Strict: a key that
    maps nowhere (beyond a classifier) is an error naming the layout and the first such keys."""
    tables = layer_tables()[layout]
    layers = {k.rsplit(".", 1)[0] for k in official if k.split(".", 1)[0] not in HEADS}
    if backbone is None:
        fitting = [name for name, table in tables.items() if set(table) == layers]
        if len(fitting) != 1:
            closest = min(tables, key=lambda name: len(set(tables[name]) ^ layers))
            unmatched = sorted(layers - set(tables[closest]))
            absent = sorted(set(tables[closest]) - layers)
            raise CheckpointMismatchError(
                f"{source} read as the {layout} layout matches none of its backbones ({', '.join(tables)}); "
                f"closest is {closest}: unmatched [{_show(unmatched) or 'none'}], absent [{_show(absent) or 'none'}].")
        backbone = fitting[0]
    if backbone not in tables:
        raise CheckpointMismatchError(f"the {layout} layout has no {backbone!r} backbone; it has {', '.join(tables)}.")
    table = tables[backbone]
    out, unmatched = {}, []
    for key, value in official.items():
        layer, tensor = key.rsplit(".", 1)
        if layer in table:
            out[f"{table[layer]}.{tensor}"] = value
        elif key.split(".", 1)[0] not in HEADS:
            unmatched.append(key)
    if unmatched:
        raise CheckpointMismatchError(f"{source} read as the {layout} layout for {backbone}: {len(unmatched)} keys map "
                                      f"to no layer [{_show(sorted(unmatched))}].")
    return out, backbone


def to_official(ours: dict[str, torch.Tensor], layout: str, backbone: str) -> Any:
    """Our backbone state in the layout the authors publish (what their own scripts load)."""
    tables = layer_tables()[layout]
    if backbone not in tables:
        raise CheckpointMismatchError(f"the {layout} layout has no {backbone!r} backbone; it has {', '.join(tables)}.")
    inverse = {ours_layer: official for official, ours_layer in tables[backbone].items()}
    state = {}
    for key, value in ours.items():
        layer, tensor = key.rsplit(".", 1)
        if layer not in inverse:
            raise CheckpointMismatchError(f"our key {key!r} has no place in the {layout} {backbone} layout.")
        state[PREFIXES[layout] + f"{inverse[layer]}.{tensor}"] = value
    return {"model": state} if layout == "rspnet" else state

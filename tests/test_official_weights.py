"""The authors' released layouts (RSPNet's and PRP's) load into our backbones, strictly, and ours
export into them. Test checkpoints are built with the official key names from one of our backbones
(random weights, random BatchNorm statistics) plus the non-backbone entries the real files carry."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from vssl_bench.backbones import build_backbone
from vssl_bench.cli import main
from vssl_bench.errors import CheckpointMismatchError
from vssl_bench.evaluation.checkpoints import load_backbone
from vssl_bench.evaluation.official_weights import PREFIXES, layer_tables, to_official

CASES = [(layout, name) for layout, tables in sorted(layer_tables().items()) for name in sorted(tables)]


def random_backbone(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_backbone(name, width=0.125)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def official_file(path, layout: str, name: str, net: torch.nn.Module) -> None:
    """What the authors publish: the backbone in their keys, and the rest of their model beside it."""
    blob = to_official(net.state_dict(), layout, name)
    if layout == "rspnet":
        blob["model"] |= {"encoder_q.encoder.fc.weight": torch.zeros(4, 4), "encoder_k.encoder.conv1.weight": torch.zeros(1),
                          "encoder_q.fc_a.weight": torch.zeros(128, 4), "queue": torch.zeros(128, 16)}
        blob |= {"epoch": 200, "optimizer": {}}
    else:
        blob |= {"module.fc.weight": torch.zeros(4, 4), "module.decoder.0.weight": torch.zeros(1)}
    torch.save(blob, path)


@pytest.mark.parametrize(("layout", "name"), CASES)
def test_official_layout_loads_into_our_backbone_with_identical_outputs(layout, name, tmp_path):
    source = random_backbone(name)
    official_file(tmp_path / "official.pth", layout, name, source)
    target = random_backbone(name, seed=1)
    assert load_backbone(target, tmp_path / "official.pth") == len(source.state_dict())  # layout recognised
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), target.eval()(x))


@pytest.mark.parametrize("layout", ["rspnet", "prp"])
def test_a_renamed_key_or_a_changed_shape_is_refused_naming_the_layout(layout, tmp_path):
    name = "c3d"
    blob = to_official(random_backbone(name).state_dict(), layout, name)
    state = blob["model"] if layout == "rspnet" else blob
    first = next(k for k in state if k.endswith(".weight"))
    layer = first.rsplit(".", 1)[0]
    renamed = {(k.replace(layer + ".", layer + "_x.") if k.startswith(layer + ".") else k): v for k, v in state.items()}
    torch.save({"model": renamed} if layout == "rspnet" else renamed, tmp_path / "renamed.pth")
    wrong = layer.removeprefix(PREFIXES[layout]) + "_x"  # the official name, prefix removed
    for given in (None, name):  # recognising the backbone, or told which it is
        with pytest.raises(CheckpointMismatchError, match=rf"{layout} layout.*(unmatched|map to no layer).*{wrong}"):
            load_backbone(random_backbone(name), tmp_path / "renamed.pth", name=given)
    reshaped = dict(state)
    reshaped[first] = torch.zeros(3, 3)
    torch.save({"model": reshaped} if layout == "rspnet" else reshaped, tmp_path / "reshaped.pth")
    with pytest.raises(CheckpointMismatchError, match=rf"read as the {layout} layout.*wrong shape 1"):
        load_backbone(random_backbone(name), tmp_path / "reshaped.pth")


def test_forcing_a_format_that_does_not_fit_says_so(tmp_path):
    torch.save(random_backbone("r3d10").state_dict(), tmp_path / "ours.pt")
    with pytest.raises(CheckpointMismatchError, match="not the rspnet layout"):
        load_backbone(random_backbone("r3d10"), tmp_path / "ours.pt", fmt="rspnet")


@pytest.mark.parametrize(("layout", "name"), [("rspnet", "r21d10"), ("prp", "r3d10")])
def test_export_then_load_round_trips_exactly(layout, name, tmp_path):
    net = random_backbone(name)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in net.state_dict().items()},
                "hyper_parameters": {"backbone": name}}, tmp_path / "ours.ckpt")
    main(["export", "--checkpoint", str(tmp_path / "ours.ckpt"), "--format", layout, "--out", str(tmp_path / "x.pth")])
    exported = torch.load(tmp_path / "x.pth", weights_only=False)
    keys = exported["model"] if layout == "rspnet" else exported
    assert all(k.startswith("encoder_q.encoder." if layout == "rspnet" else "module.base_network.") for k in keys)
    back = random_backbone(name, seed=2)
    load_backbone(back, tmp_path / "x.pth", fmt=layout, name=name)
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)


def test_official_weight_rows_are_marked_and_carry_the_file_hash(tmp_path, synthetic_root):
    from vssl_bench.bench.grids import Cell
    from vssl_bench.bench.runner import run_cell
    from vssl_bench.bench.trainer import RunContext, TrainerOptions
    from vssl_bench.report.leaderboard import write_leaderboard

    official_file(tmp_path / "prp_r3d.pth", "prp", "r3d10", random_backbone("r3d10"))
    ctx = RunContext(scale="quick", results=tmp_path / "results", trainer=TrainerOptions(limit_test_batches=1))
    assert run_cell(Cell("prp", "r3d10", "ucf101"), ctx, checkpoint=tmp_path / "prp_r3d.pth", sections=("retrieval",)) == []
    (record_path,) = (tmp_path / "results" / "runs").rglob("retrieval-synthetic.json")
    record = json.loads(record_path.read_text())
    assert record["cell"].endswith("-official") and record["source"] == "official weights"
    assert record["weights"]["format"] == "prp"
    assert record["weights"]["sha256"] == hashlib.sha256((tmp_path / "prp_r3d.pth").read_bytes()).hexdigest()
    import pandas as pd

    table = pd.read_csv(write_leaderboard(tmp_path / "results")["csv"])
    assert set(table[table["source"] == "official weights"]["Metric"]) >= {"R@1", "Top-1 Accuracy"}

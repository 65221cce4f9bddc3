"""Named grids of cells. A cell is method x backbone x pretraining data (x scale, chosen at run time)."""

from __future__ import annotations

from dataclasses import dataclass

from vssl_bench.errors import ConfigError

METHODS = ("rspnet", "pace", "prp", "ascnet")
BACKBONES = ("c3d", "r3d10", "r21d10", "r3d18", "s3dg")


@dataclass(frozen=True)
class Cell:
    method: str
    backbone: str
    pretrain_data: str  # the paper's pretraining set; the quick scale replaces it by synthetic data
    variant: str = ""  # a second recipe of the same cell in the paper (RSPNet's 1000-epoch S3D-G: "1000ep")

    @property
    def recipe(self) -> str:
        suffix = f"_{self.variant}" if self.variant else ""
        return f"experiments/{self.method}/{self.backbone}_{_short(self.pretrain_data)}{suffix}.yaml"

    def id(self, scale: str) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.method}-{self.backbone}-{_short(self.pretrain_data)}{variant}-{scale}"


def _short(data: str) -> str:
    return {"kinetics400": "k400", "ucf101": "ucf101"}[data]


# the backbones and pretraining data each paper reports
PAPER_GRIDS: dict[str, list[Cell]] = {
    "rspnet": [Cell("rspnet", b, "kinetics400") for b in ("c3d", "r3d18", "r21d10", "s3dg")]
    + [Cell("rspnet", "s3dg", "kinetics400", "1000ep")],  # the headline row: 1000 epochs
    "pace": [Cell("pace", b, "ucf101") for b in ("c3d", "r3d10", "r21d10", "s3dg")]  # S3D-G: the README's command
    + [Cell("pace", "r21d10", "kinetics400")],
    "prp": [Cell("prp", b, "ucf101") for b in ("c3d", "r3d10", "r21d10")],
    "ascnet": [Cell("ascnet", b, "kinetics400") for b in ("r3d18", "s3dg")],
}


def _all() -> list[Cell]:
    """Every method with every backbone, each on the pretraining set its paper uses most."""
    data = {"rspnet": "kinetics400", "pace": "ucf101", "prp": "ucf101", "ascnet": "kinetics400"}
    return [Cell(m, b, data[m]) for m in METHODS for b in BACKBONES]


GRIDS: dict[str, list[Cell]] = {
    "all": _all(),
    **PAPER_GRIDS,
    "smoke": [Cell("pace", "r3d10", "ucf101")],
}


def grid(name: str) -> list[Cell]:
    if name not in GRIDS:
        raise ConfigError(f"grid {name!r} is unknown; choose one of {', '.join(GRIDS)}.")
    return GRIDS[name]

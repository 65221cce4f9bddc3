"""Named grids of cells, read from the catalog. A cell is method x backbone x pretraining data (x scale,
chosen at run time)."""

from __future__ import annotations

from dataclasses import dataclass

from vssl_bench import catalog
from vssl_bench.errors import ConfigError

# The backbone of ``make run``'s showcase: every method on it, against its random init. R3D-10 is defined
# by Pace and PRP and has a recipe for all four methods (README, "The quick scale", has the measurements).
SHOWCASE_BACKBONE = "r3d10"


@dataclass(frozen=True)
class Cell:
    method: str
    backbone: str
    pretrain_data: str  # the paper's pretraining set; the quick scale replaces it by synthetic data
    variant: str = ""  # a second recipe of the same cell in the paper (RSPNet's 1000-epoch S3D-G: "1000ep")

    @property
    def recipe(self) -> str:
        return catalog.recipe_file(self.method, self.backbone, self.pretrain_data, self.variant)

    def id(self, scale: str) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.method}-{self.backbone}-{catalog.SHORT_DATA[self.pretrain_data]}{variant}-{scale}"


def paper_grids() -> dict[str, list[Cell]]:
    """Per method, the backbones and pretraining data its paper reports."""
    return {m.name: [Cell(m.name, *cell) for cell in m.paper_cells] for m in catalog.METHODS.values()}


def grids() -> dict[str, list[Cell]]:
    every = [Cell(m.name, b, m.pretrain_data) for m in catalog.METHODS.values() for b in catalog.BACKBONES]
    showcase = [Cell(m.name, SHOWCASE_BACKBONE, m.pretrain_data) for m in catalog.METHODS.values()]
    return {"all": every, "showcase": showcase, **paper_grids(), "smoke": [Cell("pace", "r3d10", "ucf101")]}


# The downstream protocols a grid runs, where not all: the showcase shows the frozen-feature protocols
# (nearest-neighbour retrieval and the logistic probe on the same features), which read what
# pretraining learnt; fine-tuning would cost the showcase pretraining steps.
GRID_SECTIONS = {"showcase": ("retrieval",)}


def grid_sections(name: str) -> tuple[str, ...]:
    return GRID_SECTIONS.get(name, ("finetune", "retrieval"))


def grid(name: str) -> list[Cell]:
    known = grids()
    if name not in known:
        raise ConfigError(f"grid {name!r} is unknown; choose one of {', '.join(known)}.")
    return known[name]

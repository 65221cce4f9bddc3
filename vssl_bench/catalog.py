"""The one list of methods, backbones and datasets that everything else reads: the method registry,
the grids, recipes' checks and file names, the leaderboard, the page's filters and the model index.

A new method is one :class:`Method` entry here (or :func:`register_method` from outside the package)
plus its module; nothing else lists methods. The papers' own numbers and their sources stay data, in
``results/reported.yaml``, keyed by the same names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    name: str
    display: str  # as papers and Papers-With-Code write it
    cls: str  # "module:Class" of its LightningModule, imported on first use
    pretrain_data: str  # the pretraining set its paper uses most (the "all" grid's column)
    # the cells its paper reports: (backbone, pretraining data, variant)
    paper_cells: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    def load(self) -> type:
        module, _, name = self.cls.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Backbone:
    name: str
    display: str  # short, as the papers' tables write it
    architecture: str  # the model-index "Architecture" name


@dataclass(frozen=True)
class Dataset:
    name: str  # also its folder under --data-root
    display: str  # short (tables)
    long: str  # model index
    pretrain: bool  # a pretraining set of some paper (or of the quick scale)
    downstream: bool  # fine-tuned and retrieved on


BASELINE = Method("scratch", "Random init", "", "none")  # the random-init rows: no pretraining

METHODS: dict[str, Method] = {m.name: m for m in (  # in order of publication (tables list them so)
    Method("prp", "PRP", "vssl_bench.methods.prp:PRP", "ucf101",
           tuple((b, "ucf101", "") for b in ("c3d", "r3d10", "r21d10"))),
    Method("pace", "Pace", "vssl_bench.methods.pace:Pace", "ucf101",
           tuple((b, "ucf101", "") for b in ("c3d", "r3d10", "r21d10", "s3dg")) + (("r21d10", "kinetics400", ""),)),
    Method("rspnet", "RSPNet", "vssl_bench.methods.rspnet:RSPNet", "kinetics400",
           tuple((b, "kinetics400", "") for b in ("c3d", "r3d18", "r21d10", "s3dg")) + (("s3dg", "kinetics400", "1000ep"),)),
    Method("ascnet", "ASCNet", "vssl_bench.methods.ascnet:ASCNet", "kinetics400",
           tuple((b, "kinetics400", "") for b in ("r3d18", "s3dg"))),
)}

BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("c3d", "C3D", "C3D"),
    Backbone("r3d10", "R3D-10", "R3D-10"),
    Backbone("r21d10", "R(2+1)D-10", "R(2+1)D-10"),
    Backbone("r3d18", "3D-ResNet-18", "3D-ResNet-18"),
    Backbone("s3dg", "S3D-G", "S3D-G"),
)}

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("kinetics400", "K400", "Kinetics-400", pretrain=True, downstream=False),
    Dataset("ucf101", "UCF101", "UCF101", pretrain=True, downstream=True),
    Dataset("hmdb51", "HMDB51", "HMDB51", pretrain=False, downstream=True),
    Dataset("synthetic", "Synthetic", "Synthetic (vssl-bench)", pretrain=True, downstream=True),
)}


SHORT_DATA = {"kinetics400": "k400", "ucf101": "ucf101"}  # the recipe file names' spelling


def recipe_file(method: str, backbone: str, pretrain_data: str, variant: str = "") -> str:
    """``experiments/<method>/<backbone>_<data>[_<variant>].yaml``, the recipe of a cell (relative to the
    project); KeyError for pretraining data no recipe is named after."""
    suffix = f"_{variant}" if variant else ""
    return f"experiments/{method}/{backbone}_{SHORT_DATA[pretrain_data]}{suffix}.yaml"


def method(name: str) -> Method:
    if name == BASELINE.name:
        return BASELINE
    if name not in METHODS:
        raise KeyError(f"method {name!r} is not in the catalog; known: {', '.join(METHODS)}")
    return METHODS[name]


def register_method(entry: Method) -> None:
    """Add a method from outside the package (a plug-in, or a test's throwaway method)."""
    METHODS[entry.name] = entry


def unregister_method(name: str) -> None:
    METHODS.pop(name, None)


def display_names() -> dict[str, str]:
    """Every name a table may show, method, baseline, backbone or dataset, to its display name."""
    return method_names() | backbone_names() | dataset_names()


def method_names() -> dict[str, str]:
    """Method (and baseline) name -> display name, the baseline first, then in publication order."""
    return {BASELINE.name: BASELINE.display} | {m.name: m.display for m in METHODS.values()}


def backbone_names() -> dict[str, str]:
    return {b.name: b.display for b in BACKBONES.values()}


def dataset_names() -> dict[str, str]:
    """Dataset name -> short display name (``none``: no pretraining)."""
    return {d.name: d.display for d in DATASETS.values()} | {"none": "none"}

"""Paper recipes (``experiments/<method>/<backbone>_<data>.yaml``) as typed objects, validated whole.

A recipe has a header (``method``, ``backbone``, ``pretrain_data``, ``checkpoint``, ...) and the
sections ``model`` (the method's constructor arguments), ``data`` (the data module's), ``trainer``,
``finetune`` and ``retrieval`` (the downstream protocols). :func:`load_recipe` reads one at a scale and
checks every key and every enumerated value before anything runs: an unknown key or value is a
:class:`ConfigError` naming the file, the key path, what is allowed and the closest valid name.

Where each default lives: the header and protocol fields in the dataclasses below; the method's,
the data module's, the fine-tuning classifier's and the augmentation's in their own constructors (a
recipe passes only what it sets). The backbone is named once, in the header.

Batch sizes are the paper's *global* batch (all devices together); the per-device batch is derived
from the world size when a stage runs (:mod:`vssl_bench.bench.batching`).

The ``quick`` scale deep-merges ``experiments/scales/quick.yaml`` over a recipe (its ``model_by_method``,
``data_by_method`` and ``trainer_by_method`` sections apply per method; ``datasets`` entries are replaced, not merged). That
file is the only place that shrinks a recipe, and it is checked by the same rules.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vssl_bench.errors import ConfigError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCALES = ("quick", "paper")
Checkpoint = Literal["lowest_train_loss", "best_val_loss", "last"]
Selection = Literal["last", "best_val", "best_test"]


def experiments_dir() -> Path:
    return EXPERIMENTS


# --- the typed sections ------------------------------------------------------------------------------
@dataclass
class TrainerSection:
    max_epochs: int = 1
    log_every_n_steps: int | None = None  # Lightning's default (50) unless set
    paper_devices: int = 1  # GPUs the authors trained on (their per-GPU batch decides BatchNorm groups)
    # ``auto``: bf16-mixed on a GPU that has bf16, 16-mixed on one without, 32-true on a CPU;
    # ``--trainer.precision`` on the command line overrides it
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = "auto"


@dataclass
class FinetuneDataset:
    """One downstream dataset of the fine-tuning protocol. Keys other than these fields are the
    classifier's (:class:`~vssl_bench.evaluation.finetune.FineTuner` arguments: ``lr``, ``optimizer``,
    ``schedule``, ``linear_probe``, ...), kept in ``classifier``; their defaults are the FineTuner's."""

    batch_size: int  # the paper's global batch
    epochs: int
    eval_clips: int
    clip_len: int
    crop_size: int
    split: Literal[1, 2, 3] = 1
    splits: list[Literal[1, 2, 3]] | None = None  # [1, 2, 3] for the 3-fold accuracy
    heldout: int = 0  # training videos held out for ``select: best_val``
    frame_size: tuple[int, int] | None = None  # decoded frame size; default: the recipe's data.frame_size
    val_every: int | None = None  # epochs between validation passes (default: every epoch when selecting)
    paper_devices: int = 1  # GPUs the authors fine-tuned on (RSPNet: 2)
    classifier: dict[str, Any] = field(default_factory=dict)

    @property
    def lr(self) -> float:
        return float(self.classifier["lr"])

    @property
    def linear_probe(self) -> bool:
        return bool(self.classifier.get("linear_probe", False))


@dataclass
class Finetune:
    datasets: dict[str, FinetuneDataset]
    protocol: str = ""  # whose protocol (a label for people: "rspnet", "prp/vcop")
    select: Selection = "last"
    eval_crop: Literal["center", "center_square"] = "center"
    normalize: Literal["imagenet", "unit", "bgr255"] = "imagenet"
    train_augment: dict[str, Any] = field(default_factory=dict)  # ClipAugment arguments
    clip_starts: Literal["round", "floor"] = "round"  # test clips: RSPNet's EvenNCrop, or VCOP/PRP's floor
    seeds: list[int] | None = None  # run for these seeds only (the quick scale fine-tunes seed 0)


@dataclass
class Retrieval:
    datasets: list[str]
    clips: int
    clip_len: int
    crop_size: int
    protocol: str = ""
    pool: Literal["avg", "vcop"] = "avg"
    crop: Literal["center", "center_square"] = "center"
    normalize: Literal["imagenet", "unit", "bgr255"] = "imagenet"
    frame_size: tuple[int, int] | None = None
    batch_size: int = 8  # the global batch of feature extraction (no gradients: any size gives the same features)
    clip_starts: Literal["round", "floor"] = "round"  # as Finetune.clip_starts
    seeds: list[int] | None = None


@dataclass
class Recipe:
    source: str  # the file(s) it was read from
    scale: str
    method: str
    backbone: str
    pretrain_data: str
    model: dict[str, Any]  # the method's constructor arguments (backbone excluded: it is the header's)
    data: dict[str, Any]  # the data module's arguments; ``batch_size`` is the paper's global batch
    trainer: TrainerSection
    finetune: Finetune
    retrieval: Retrieval
    checkpoint: Checkpoint = "lowest_train_loss"
    variant: str = ""
    extrapolated: str = ""  # why this cell is not a paper's own (empty: it is)
    deviations: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_split(self, dataset: str, split: int) -> Recipe:
        spec = dataclasses.replace(self.finetune.datasets[dataset], split=split, splits=None)
        finetune = dataclasses.replace(self.finetune, datasets={**self.finetune.datasets, dataset: spec})
        return dataclasses.replace(self, finetune=finetune)

    def splits(self, dataset: str) -> list[int]:
        spec = self.finetune.datasets[dataset]
        return sorted(set(spec.splits or [spec.split]))


# --- checking values against annotations ------------------------------------------------------------
SYNONYMS = {"learning_rate": "lr", "pooling": "pool", "num_clips": "clips", "epochs": "max_epochs",
            "max_epochs": "epochs", "batch": "batch_size", "scheduler": "schedule", "optimiser": "optimizer"}


def _closest(word: str, options: list[str]) -> str:
    options = [str(o) for o in options]
    near_synonym = difflib.get_close_matches(str(word), list(SYNONYMS), n=1, cutoff=0.8)
    if near_synonym and SYNONYMS[near_synonym[0]] in options:
        return f"; did you mean {SYNONYMS[near_synonym[0]]!r}?"
    match = difflib.get_close_matches(str(word), options, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else "."


def _fail(source: str, where: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {where}: {message}")


SCALARS: dict[Any, tuple[Any, str]] = {  # annotation -> (does a YAML value fit it, what it must be)
    type(None): (lambda v: v is None, "null"),
    bool: (lambda v: isinstance(v, bool), "true/false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _check_value(value: Any, annotation: Any, where: str, source: str) -> None:
    """Raise unless ``value`` fits ``annotation`` (Literal values, numbers, strings, lists, tuples)."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # "X | None": a null is fine, anything else answers to X
            if value is not None:
                _check_value(value, options[0], where, source)
            return
        errors = []
        for option in args:
            try:
                _check_value(value, option, where, source)
                return
            except ConfigError as exc:
                errors.append(exc)
        literal = [a for option in args if typing.get_origin(option) is Literal for a in typing.get_args(option)]
        if literal:
            raise _fail(source, where, f"{value!r} is not allowed; use one of {', '.join(map(str, literal))}"
                                       f"{_closest(value, literal)}")
        raise _fail(source, where, f"{value!r} is not a {_name(annotation)}.")
    if origin is Literal:
        if value not in args:
            raise _fail(source, where, f"{value!r} is not allowed; use one of {', '.join(map(str, args))}"
                                       f"{_closest(value, list(args))}")
        return
    if annotation in SCALARS:
        fits, what = SCALARS[annotation]
        if not fits(value):
            raise _fail(source, where, f"{value!r} is not {what}.")
        return
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _fail(source, where, f"{value!r} is not a list.")
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise _fail(source, where, f"{value!r} needs {len(args)} entries.")
        for n, item in enumerate(value):
            inner = args[0] if origin is list or (args and args[-1] is Ellipsis) else (args[n] if args else Any)
            _check_value(item, inner if args else Any, f"{where}[{n}]", source)
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, where, f"{value!r} is not a mapping.")


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _check_keys(data: Any, allowed: dict[str, Any], where: str, source: str) -> None:
    if not isinstance(data, dict):
        raise _fail(source, where, f"is a mapping of keys ({', '.join(sorted(allowed))}), not {data!r}.")
    for key, value in data.items():
        if key not in allowed:
            raise _fail(source, f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}"
                                                  f"{_closest(key, sorted(allowed))}")
        _check_value(value, allowed[key], f"{where}.{key}", source)


def constructor_arguments(cls: type, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{argument: annotation}`` that ``cls.__init__`` (and its bases') accept."""
    accepted: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - an unresolvable hint is not checked
            hints = {}
        for name, parameter in inspect.signature(init).parameters.items():
            if name in ("self", "args", "kwargs") or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                          parameter.VAR_KEYWORD):
                continue
            accepted[name] = hints.get(name, Any)
    return {k: v for k, v in accepted.items() if k not in exclude}


def _dataclass_fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _required(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


# --- what each section accepts --------------------------------------------------------------------
def _augment_arguments() -> dict[str, Any]:
    from vssl_bench.data.transforms import ClipAugment

    return constructor_arguments(ClipAugment, exclude=("size",))


def _method_arguments(method: str) -> dict[str, Any]:
    from vssl_bench.methods import METHODS

    return constructor_arguments(METHODS[method], exclude=("backbone",))


def _data_arguments() -> dict[str, Any]:
    from vssl_bench.data.datamodule import VideoDataModule

    # set per stage by the runner, not by a recipe
    return constructor_arguments(VideoDataModule, exclude=("root", "mode", "seed", "split", "eval_clips", "sampler", "clip_starts"))


def _classifier_arguments() -> dict[str, Any]:
    from vssl_bench.evaluation.finetune import FineTuner

    return constructor_arguments(FineTuner, exclude=("backbone", "backbone_width", "bn_momentum", "num_classes",
                                                     "init", "init_format", "train_augment", "eval_crop",
                                                     "normalize"))


def _check_model(model: Any, method: str, where: str, source: str) -> None:
    allowed = _method_arguments(method)
    _check_keys(model, allowed, where, source)
    if isinstance(model.get("augment"), dict):
        _check_keys(model["augment"], _augment_arguments(), f"{where}.augment", source)


def _check_finetune(section: Any, source: str, partial: bool) -> None:
    fields = _dataclass_fields(Finetune)
    _check_keys(section, fields, "finetune", source)
    if isinstance(section.get("train_augment"), dict):
        _check_keys(section["train_augment"], _augment_arguments(), "finetune.train_augment", source)
    for name, entry in (section.get("datasets") or {}).items():
        where = f"finetune.datasets.{name}"
        allowed = {k: v for k, v in _dataclass_fields(FinetuneDataset).items() if k != "classifier"}
        allowed |= _classifier_arguments()
        _check_keys(entry, allowed, where, source)
        missing = [k for k in [*_required(FinetuneDataset), "lr"] if k not in entry]
        if missing and not partial:
            raise _fail(source, where, f"lacks {', '.join(missing)}.")
    if not partial and not section.get("datasets"):
        raise _fail(source, "finetune.datasets", "names no dataset.")


def _check_recipe(raw: dict[str, Any], source: str) -> None:
    from vssl_bench import catalog

    header = {"method": Literal[tuple(catalog.METHODS)], "backbone": Literal[tuple(catalog.BACKBONES)],
              "pretrain_data": Literal[tuple(n for n, d in catalog.DATASETS.items() if d.pretrain)], "checkpoint": Checkpoint,
              "variant": str, "extrapolated": str, "deviations": str, "model": dict, "data": dict,
              "trainer": dict, "finetune": dict, "retrieval": dict}
    _check_keys(raw, header, "recipe", source)
    for key in ("method", "backbone", "pretrain_data", "model", "data", "trainer", "finetune", "retrieval"):
        if key not in raw:
            raise _fail(source, key, "missing; a recipe needs method, backbone, pretrain_data and the sections "
                                     "model, data, trainer, finetune and retrieval.")
    _check_model(raw["model"], raw["method"], "model", source)
    _check_keys(raw["data"], _data_arguments(), "data", source)
    _check_keys(raw["trainer"], _dataclass_fields(TrainerSection), "trainer", source)
    _check_finetune(raw["finetune"], source, partial=False)
    _check_keys(raw["retrieval"], _dataclass_fields(Retrieval), "retrieval", source)
    missing = [k for k in _required(Retrieval) if k not in raw["retrieval"]]
    if missing:
        raise _fail(source, "retrieval", f"lacks {', '.join(missing)}.")


def _check_scale_file(raw: dict[str, Any], source: str) -> None:
    from vssl_bench.methods import METHODS

    sections = {"model": dict, "model_by_method": dict, "data": dict, "data_by_method": dict, "trainer": dict,
                "trainer_by_method": dict, "finetune": dict, "retrieval": dict}
    _check_keys(raw, sections, "scale", source)
    every_method: dict[str, Any] = {}
    for method in METHODS:
        every_method |= _method_arguments(method)
    _check_keys(raw.get("model", {}), every_method, "model", source)
    for section in ("model_by_method", "data_by_method", "trainer_by_method"):
        _check_keys(raw.get(section, {}), {m: dict for m in METHODS}, section, source)
    for method, model in raw.get("model_by_method", {}).items():
        _check_model(model, method, f"model_by_method.{method}", source)
    for method, data in raw.get("data_by_method", {}).items():
        _check_keys(data, _data_arguments(), f"data_by_method.{method}", source)
    _check_keys(raw.get("data", {}), _data_arguments(), "data", source)
    _check_keys(raw.get("trainer", {}), _dataclass_fields(TrainerSection), "trainer", source)
    for method, trainer in raw.get("trainer_by_method", {}).items():
        _check_keys(trainer, _dataclass_fields(TrainerSection), f"trainer_by_method.{method}", source)
    _check_finetune(raw.get("finetune", {}), source, partial=True)
    _check_keys(raw.get("retrieval", {}), _dataclass_fields(Retrieval), "retrieval", source)


# --- reading --------------------------------------------------------------------------------------
def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "datasets":
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}. Recipes live in {EXPERIMENTS}/<method>/<backbone>_<data>.yaml.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a mapping with model/data/trainer/finetune/retrieval sections.")
    return data


def _finetune_dataset(entry: dict[str, Any]) -> FinetuneDataset:
    own = {f.name for f in dataclasses.fields(FinetuneDataset)} - {"classifier"}
    values = {k: v for k, v in entry.items() if k in own}
    if values.get("frame_size") is not None:
        values["frame_size"] = tuple(values["frame_size"])
    return FinetuneDataset(**values, classifier={k: v for k, v in entry.items() if k not in own})


def build(raw: dict[str, Any], source: str, scale: str) -> Recipe:
    """A checked recipe dict as a :class:`Recipe`."""
    _check_recipe(raw, source)
    finetune = dict(raw["finetune"])
    finetune["datasets"] = {name: _finetune_dataset(entry) for name, entry in finetune["datasets"].items()}
    retrieval = dict(raw["retrieval"])
    if retrieval.get("frame_size") is not None:
        retrieval["frame_size"] = tuple(retrieval["frame_size"])
    header = {k: raw[k] for k in ("checkpoint", "variant", "extrapolated", "deviations") if k in raw}
    return Recipe(source=source, scale=scale, method=raw["method"], backbone=raw["backbone"],
                  pretrain_data=raw["pretrain_data"], model=dict(raw["model"]), data=dict(raw["data"]),
                  trainer=TrainerSection(**raw["trainer"]), finetune=Finetune(**finetune),
                  retrieval=Retrieval(**retrieval), **header)


def load_recipe(path: str | Path, scale: str = "paper") -> Recipe:
    """Read, merge at ``scale`` and check a recipe; any file on disk, not only ``experiments/``."""
    if scale not in SCALES:
        raise ConfigError(f"scale={scale!r}: use quick or paper.")
    raw = read_yaml(path)
    source = str(path)
    _check_recipe(raw, source)  # the file as written, so an error names it and not the merge
    if scale == "quick":
        scale_file = EXPERIMENTS / "scales" / "quick.yaml"
        quick = read_yaml(scale_file)
        _check_scale_file(quick, str(scale_file))
        per_method = quick.pop("model_by_method", {}).get(raw["method"], {})
        data_per_method = quick.pop("data_by_method", {}).get(raw["method"], {})
        trainer_per_method = quick.pop("trainer_by_method", {}).get(raw["method"], {})
        raw = merge(raw, quick)
        raw["model"] = merge(raw["model"], per_method)
        raw["data"] = merge(raw["data"], data_per_method)
        raw["trainer"] = merge(raw["trainer"], trainer_per_method)
        source = f"{path} at the quick scale ({scale_file})"
    return build(raw, source, scale)

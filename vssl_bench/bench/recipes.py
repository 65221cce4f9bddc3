"""Reading a paper recipe (``experiments/<method>/<backbone>_<data>.yaml``) at a scale.

A recipe has the sections ``model`` (the method's constructor arguments), ``data`` (the data
module's), ``trainer`` (Lightning's), ``finetune`` and ``retrieval`` (the downstream protocols). The
``quick`` scale deep-merges ``experiments/scales/quick.yaml`` over it (its ``model_by_method`` and
``data_by_method`` sections apply per method); ``datasets`` entries are replaced, not merged. That file is the only
place that shrinks a recipe.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from vssl_bench.errors import ConfigError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCALES = ("quick", "paper")


def experiments_dir() -> Path:
    return EXPERIMENTS


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


def load_recipe(path: str | Path, scale: str = "paper") -> dict[str, Any]:
    if scale not in SCALES:
        raise ConfigError(f"scale={scale!r}: use quick or paper.")
    recipe = read_yaml(path)
    for section in ("method", "model", "data", "trainer", "finetune", "retrieval"):
        if section not in recipe:
            raise ConfigError(f"{path}: the recipe lacks its {section!r} section.")
    if scale == "quick":
        quick = read_yaml(EXPERIMENTS / "scales" / "quick.yaml")
        per_method = quick.pop("model_by_method", {}).get(recipe["method"], {})
        data_per_method = quick.pop("data_by_method", {}).get(recipe["method"], {})
        recipe = merge(recipe, quick)
        recipe["model"] = merge(recipe["model"], per_method)
        recipe["data"] = merge(recipe["data"], data_per_method)
    recipe["scale"] = scale
    return recipe

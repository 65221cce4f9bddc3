"""One catalog: a method added there (plus its module) is a method everywhere: the registry, the grids,
the recipe checks, the stages and the tables' names. This test adds a throwaway one and removes it."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import yaml
from torch import nn

from vssl_bench import catalog
from vssl_bench.backbones import list_backbones
from vssl_bench.bench.grids import Cell, grid
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.data.sampling import RandomClipSampler
from vssl_bench.errors import ConfigError
from vssl_bench.methods import METHODS
from vssl_bench.methods.base import PretextMethod


class Flip(PretextMethod):
    """A throwaway pretext: is the clip played forwards or backwards?"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.classifier = nn.Linear(self.backbone.feature_dim, 2)

    @property
    def sampler(self) -> RandomClipSampler:
        return RandomClipSampler(self.hparams.clip_len)

    def pretext_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        video = batch["video"][:, 0]
        backwards = torch.arange(len(video), device=video.device) % 2
        video = torch.where(backwards.bool()[:, None, None, None, None], video.flip(2), video)
        logits = self.classifier(self.encode(video))
        loss = nn.functional.cross_entropy(logits.float(), backwards)
        return {"loss": loss, "acc/flip": (logits.argmax(1) == backwards).float().mean()}


@pytest.fixture
def flip_method():
    catalog.register_method(catalog.Method("flip", "Flip", f"{__name__}:Flip", "ucf101", (("r3d10", "ucf101", ""),)))
    yield
    catalog.unregister_method("flip")


def test_the_catalog_names_every_buildable_backbone():
    assert sorted(catalog.BACKBONES) == list_backbones()


def test_a_method_added_to_the_catalog_alone_runs_everywhere(flip_method, tmp_path, synthetic_root):
    from vssl_bench.bench.stages import pretrain
    from vssl_bench.bench.trainer import RunContext, TrainerOptions

    assert METHODS["flip"] is Flip and "flip" in list(METHODS)
    assert grid("flip") == [Cell("flip", "r3d10", "ucf101")]
    assert Cell("flip", "s3dg", "ucf101") in grid("all")
    assert catalog.display_names()["flip"] == "Flip"
    spec = yaml.safe_load((experiments_dir() / "pace" / "r3d10_ucf101.yaml").read_text())
    spec["method"] = "flip"
    for key in ("max_pace", "contrastive", "contrastive_weight", "temperature", "proj_dim"):
        spec["model"].pop(key, None)
    (tmp_path / "flip.yaml").write_text(yaml.safe_dump(spec))
    recipe = load_recipe(tmp_path / "flip.yaml", "quick")
    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(max_epochs=1, limit_train_batches=2,
                                                                             num_workers=0))
    checkpoint, extra = pretrain(recipe, ctx, "flip-cell")
    assert checkpoint.is_file() and extra["batch"]["global_batch"] == 16


def test_a_method_missing_from_the_catalog_is_refused_by_name(tmp_path):
    spec = yaml.safe_load((experiments_dir() / "pace" / "r3d10_ucf101.yaml").read_text())
    spec["method"] = "flip"
    (tmp_path / "flip.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"recipe\.method: 'flip' is not allowed; use one of prp, pace, rspnet, ascnet"):
        load_recipe(tmp_path / "flip.yaml")


def test_the_tables_name_a_catalog_method_and_the_page_filters_by_it(flip_method, tmp_path):
    from vssl_bench.report.leaderboard import write_leaderboard
    from vssl_bench.report.rows import model_name

    assert model_name("flip", "r3d10", "ucf101") == "Flip (R3D-10, UCF101)"
    (tmp_path / "reported.yaml").write_text((experiments_dir().parent / "results" / "reported.yaml").read_text())
    page = write_leaderboard(tmp_path)["html"].read_text()
    assert '<option value="flip">Flip</option>' in page and '<option value="scratch">Random init</option>' in page

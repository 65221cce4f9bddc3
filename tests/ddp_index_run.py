"""Run by ``test_probe_index.py`` as its own program: Lightning's ``ddp`` strategy starts rank 1 as a
new process running this file, so each rank sets up the data module itself, as on a cluster.

Two CPU ranks (gloo) pretrain PRP for two steps on a Kinetics-shaped tree; every video list is
persisted (``PERSIST_MIN = 0``, in both ranks, since each runs this file). Each rank counts the
probes its own process made and writes them to ``probes<rank>.txt`` in the output folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl

from vssl_bench.data import probe_index, probe_table
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.methods import METHODS


def main(root: str, cache: str, out_dir: str) -> None:
    probe_index.PERSIST_MIN = 0
    seen: list[str] = []
    original = probe_table.probe

    def counting(path):
        seen.append(path)
        return original(path)

    probe_table.probe = counting
    pl.seed_everything(0, verbose=False)
    model = METHODS["prp"](backbone="r3d10", backbone_width=0.125, clip_len=4, crop_size=32, rates=(1, 2))
    data = VideoDataModule("kinetics400", root, frame_size=(32, 48), batch_size=2, num_workers=0,
                           sampler=model.sampler, index_cache=cache)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=2, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, data)
    Path(out_dir, f"probes{trainer.global_rank}.txt").write_text("\n".join(seen))


if __name__ == "__main__":
    main(*sys.argv[1:4])

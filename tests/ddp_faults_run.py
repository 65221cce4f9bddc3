"""Run by ``test_ddp_faults.py`` as its own program (Lightning's ``ddp`` strategy starts rank 1 as a
copy of this command line): the ``vssl-bench`` command itself, with a few probes put in first.

``FAULT_OUT`` names a folder where every rank writes what the test reads:
- ``draws-rank<R>.jsonl``: per training batch, the epoch, the video indices, a digest of the global
  RNG state the augmentation draws from, and the sum of the augmented clips;
- ``writes-rank<R>.txt``: a line per leaderboard write;
- ``pid-rank<R>``: the process id (for the test that kills a rank).
``FAULT=raise`` makes rank 1 raise as epoch ``FAULT_EPOCH`` (default 1) starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from vssl_bench import cli
from vssl_bench.bench import commands
from vssl_bench.bench.checkpointing import EpochDraws
from vssl_bench.methods.base import PretextMethod

OUT = Path(os.environ["FAULT_OUT"])
RANK = int(os.environ.get("LOCAL_RANK", "0"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"pid-rank{RANK}").write_text(str(os.getpid()))
    after_transfer = PretextMethod.on_after_batch_transfer

    def recording(self, batch, dataloader_idx):
        state = hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()[:16]
        batch = after_transfer(self, batch, dataloader_idx)
        with open(OUT / f"draws-rank{RANK}.jsonl", "a") as f:
            f.write(json.dumps({"epoch": self.current_epoch, "index": batch["index"].tolist(), "rng": state,
                                "sum": round(float(batch["video"].double().sum()), 3)}) + "\n")
        return batch

    PretextMethod.on_after_batch_transfer = recording
    write = commands.write_leaderboard

    def counted(results):
        with open(OUT / f"writes-rank{RANK}.txt", "a") as f:
            f.write("write\n")
        return write(results)

    commands.write_leaderboard = counted
    if os.environ.get("FAULT") == "raise":
        start = EpochDraws.on_train_epoch_start

        def failing(self, trainer, pl_module):
            if trainer.global_rank == 1 and trainer.current_epoch == int(os.environ.get("FAULT_EPOCH", "1")):
                raise ValueError("injected fault on rank 1")
            start(self, trainer, pl_module)

        EpochDraws.on_train_epoch_start = failing
    cli.main(sys.argv[1:])


if __name__ == "__main__":
    main()

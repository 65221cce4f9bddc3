"""A training step never reads a tensor's value on the host.

On a GPU each such read (``.item()``, ``bool(t)``, ``.tolist()``, boolean-mask indexing, building a
constant with ``torch.tensor(...)`` in the step) stops the host until the device has caught up, so the
host cannot queue the next step's work. On a CPU the same calls are cheap, which is why this test
catches them by their Python entry points while each method's training step (augmentation included)
runs, rather than by timing.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import vssl_bench
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.methods import METHODS

PACKAGE = str(Path(vssl_bench.__file__).parent) + "/"
READS = ("item", "__bool__", "__int__", "__float__", "__index__", "tolist", "numpy")
SMALL = {"rspnet": {"queue_size": 64, "proj_dim": 16}, "pace": {}, "prp": {}, "ascnet": {"bank_size": 64, "hidden_dim": 16}}
FULL_AUGMENT = {"crop": "random_resized", "flip_p": 0.5, "jitter": (0.4, 0.4, 0.4, 0.4), "jitter_p": 0.8,
                "grayscale_p": 0.2}  # every operation of the augmentation runs


class HostReads:
    def __init__(self) -> None:
        self.active = False
        self.seen: Counter[str] = Counter()

    def note(self, what: str) -> None:
        """Count a read made by our code itself (the caller's caller of the wrapper: Lightning's own
        book-keeping, e.g. creating a logged metric's state once, is not ours to change)."""
        if self.active:
            caller = traceback.extract_stack()[-3]
            if caller.filename.startswith(PACKAGE):
                self.seen[f"{what} at {caller.filename[len(PACKAGE):]}:{caller.lineno}"] += 1

    @contextmanager
    def watching(self) -> Iterator[None]:
        originals = {name: getattr(torch.Tensor, name) for name in (*READS, "__getitem__")}
        tensor, as_tensor = torch.tensor, torch.as_tensor

        def read(name):
            def wrapper(self_, *args, **kwargs):
                self.note(f"Tensor.{name}")
                return originals[name](self_, *args, **kwargs)
            return wrapper

        def getitem(self_, index):
            parts = index if isinstance(index, tuple) else (index,)
            if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
                self.note("boolean-mask indexing")
            return originals["__getitem__"](self_, index)

        def constant(factory, name):
            def wrapper(data, *args, **kwargs):
                if not isinstance(data, torch.Tensor):
                    self.note(f"torch.{name} from host data")
                return factory(data, *args, **kwargs)
            return wrapper

        try:
            for name in READS:
                setattr(torch.Tensor, name, read(name))
            torch.Tensor.__getitem__ = getitem
            torch.tensor, torch.as_tensor = constant(tensor, "tensor"), constant(as_tensor, "as_tensor")
            yield
        finally:
            for name, original in originals.items():
                setattr(torch.Tensor, name, original)
            torch.tensor, torch.as_tensor = tensor, as_tensor


@pytest.mark.parametrize("method", sorted(SMALL))
def test_a_training_step_reads_nothing_on_the_host(method, synthetic_root):
    reads = HostReads()
    model = METHODS[method](backbone="r3d10", backbone_width=0.125, clip_len=8, crop_size=32, augment=FULL_AUGMENT,
                            **SMALL[method])
    for hook in ("on_after_batch_transfer", "training_step"):
        original = getattr(model, hook)

        def watched(*args, _original=original, **kwargs):
            reads.active = True
            try:
                return _original(*args, **kwargs)
            finally:
                reads.active = False

        setattr(model, hook, watched)
    # 4:2:0 planes, as a GPU run ships them: their conversion is part of the watched step
    data = VideoDataModule("synthetic", str(synthetic_root), frame_size=(40, 50), batch_size=4, num_workers=0,
                           sampler=model.sampler, pixels="yuv420p")
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    with reads.watching():
        trainer.fit(model, data)
    assert trainer.global_step == 3
    assert not reads.seen, dict(reads.seen)


def test_the_watch_sees_host_reads_made_by_package_code():
    """Code attributed to a file of the package that reads values is counted, each kind of read once;
    the same reads from elsewhere (this test) are not."""
    namespace: dict = {}
    source = ("def step(x):\n"
              "    if bool(x.sum() > 0):\n"
              "        x = x[x > 0]\n"
              "    return x * torch.tensor([2.0]), x.sum().item()\n")
    exec(compile(source, PACKAGE + "imagined.py", "exec"), {"torch": torch}, namespace)
    reads = HostReads()
    with reads.watching():
        reads.active = True
        namespace["step"](torch.ones(3))
        bool(torch.ones(1).sum() > 0)
        reads.active = False
    assert set(reads.seen) == {"Tensor.__bool__ at imagined.py:2", "boolean-mask indexing at imagined.py:3",
                               "torch.tensor from host data at imagined.py:4", "Tensor.item at imagined.py:4"}

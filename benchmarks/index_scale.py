"""Launch cost at Kinetics-400 scale: the persisted probe index, first and second launch to the first step.

Builds a Kinetics-shaped tree (``train/<400 classes>/<id>_<start>_<end>.mp4``) of N symbolic links to a
few Kinetics-like clips (340x256 H.264, constant frame rate, 300-330 frames, ``kinetics_like.py``), all
in the page cache, so the numbers are CPU costs. For each N it launches, twice and each time as a fresh
process, an RSPNet R3D-18 pretraining stage on the tree with an empty index cache: the first launch
probes every video and writes the index, the second reads it. Each launch reports the seconds from
``Popen`` to the first training step (``on_train_batch_start``: the first batch loaded), the resident
memory of the main process and of it with its loader workers, and the index's bytes a video.

    python benchmarks/index_scale.py --sizes 24000 240000 --work /tmp/index_scale
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLASSES = 400


def clips(work: Path) -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from kinetics_like import kinetics_like_videos

    out = []
    for frames in (300, 315, 330):
        out += kinetics_like_videos(work / f"clips{frames}", 2, frames=frames, gop=250)
    return out


def tree(work: Path, n: int, sources: list[str]) -> Path:
    root = work / f"k400_{n}"
    done = root / ".complete"
    if done.is_file():
        return root
    per_class = n // CLASSES
    for c in range(CLASSES):
        folder = root / "train" / f"class_{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            link = folder / f"v{c:03d}x{i:05d}_{i:06d}_{i + 10:06d}.mp4"
            if not link.is_symlink():
                link.symlink_to(sources[(c * per_class + i) % len(sources)])
    done.write_text("")
    return root


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def launch(root: str, out: str) -> None:
    """The measured program: an RSPNet R3D-18 stage up to its first training step."""
    import pytorch_lightning as pl

    from vssl_bench.data import probe_table
    from vssl_bench.data.datamodule import VideoDataModule
    from vssl_bench.methods import METHODS

    probed = [0]  # probes made in this process (a parallel build's are made in its pool, counted there)
    original = probe_table.probe

    def counting(path):
        probed[0] += 1
        return original(path)

    probe_table.probe = counting
    marks: dict[str, float] = {}

    class FirstStep(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            now = time.time()
            me = os.getpid()
            workers = _children(me)
            record = {"first_step": now, **marks, "rss_main_mb": _rss_kb(me) / 1024,
                      "rss_all_mb": (_rss_kb(me) + sum(_rss_kb(w) for w in workers)) / 1024,
                      "loader_processes": len(workers), "probed_in_main_process": probed[0],
                      "built": getattr(data._train_probes(), "built", {})}
            Path(out).write_text(json.dumps(record))
            sys.stdout.flush()
            os._exit(0)  # the measurement is taken; the loader workers exit with their parent

    class Data(VideoDataModule):
        def _train_probes(self):
            return self.index("train").probes()

    imported = time.time()
    model = METHODS["rspnet"](backbone="r3d18")
    data = Data("kinetics400", root, mode="pretrain", batch_size=2, num_workers=2, frame_size=(128, 171),
                sampler=model.sampler)
    listed = time.time()
    data._train_probes()  # what the train loader would do first; kept with the index, so fit reuses it
    marks.update(imported=imported, listed=listed, probes_ready=time.time())
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[FirstStep()])
    trainer.fit(model, data)


def measure(root: Path, cache: Path, out: Path) -> dict:
    env = {**os.environ, "VSSL_BENCH_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    start = time.time()
    subprocess.run([sys.executable, __file__, "--launch", str(root), "--out", str(out)], env=env, check=True)
    record = json.loads(out.read_text())
    for mark in ("imported", "listed", "probes_ready", "first_step"):
        record[f"{mark}_s"] = round(record.pop(mark) - start, 1)  # seconds after Popen
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[24000, 240000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/index_scale"))
    parser.add_argument("--launch")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.launch:
        return launch(args.launch, args.out)
    args.work.mkdir(parents=True, exist_ok=True)
    sources = clips(args.work)
    results = {"cores": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg(), "runs": []}
    for n in args.sizes:
        start = time.perf_counter()
        root = tree(args.work, n, sources)
        made = time.perf_counter() - start
        cache = args.work / f"cache_{n}"
        shutil.rmtree(cache, ignore_errors=True)
        first = measure(root, cache, args.work / "launch.json")
        second = measure(root, cache, args.work / "launch.json")
        second.pop("built")  # the same file's record: the second launch probed nothing (probed_in_main_process)
        (index,) = (cache / "index").glob("*.probes")
        built = first["built"]
        run = {"videos": n, "tree_s": round(made, 1), "first": first, "second": second,
               "index_bytes_a_video": round(index.stat().st_size / n, 1),
               "build_cpu_ms_a_video_per_core": round(built["seconds"] * built["workers"] / max(1, built["probed"]) * 1e3, 2),
               "load_average_after": os.getloadavg()}
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

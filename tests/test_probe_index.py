"""The persisted probe index: written once, read by every process after, never trusted when stale or
corrupt, brought up to date by probing only what changed, built by one process while others wait."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from vssl_bench.data import probe_index, probe_table
from vssl_bench.data.datasets import Kinetics400
from vssl_bench.data.decode import probe
from vssl_bench.data.synthetic import write_video

CLASSES, PER_CLASS = 4, 10


def _clips(folder: Path) -> list[Path]:
    """Three tiny H.264 clips of different lengths (constant frame rate) and a copy of each to rewrite."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i, n in enumerate((18, 24, 30)):
        path = folder / f"clip{i}.mp4"
        write_video(path, rng.integers(0, 255, (n, 32, 48, 3), dtype=np.uint8), fps=25, gop=12)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    return _clips(tmp_path_factory.mktemp("index_clips"))


def _tree(root: Path, clips: list[Path], per_class: int = PER_CLASS) -> list[str]:
    """A Kinetics-shaped ``root/train/<class>/<id>.mp4`` tree of links to ``clips``; each class's first
    video is a copy (a file of its own that a test can change)."""
    paths = []
    for c in range(CLASSES):
        folder = root / "train" / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = folder / f"video{i:03d}_000000_000010.mp4"
            if not path.exists():
                source = clips[(c + i) % len(clips)]
                shutil.copy(source, path) if i == 0 else path.symlink_to(source)
            paths.append(str(path))
    return paths


@pytest.fixture
def persisted(monkeypatch, tmp_path) -> Path:
    """Every list is persisted (not only those of 2,000 videos) into a cache of this test's own."""
    monkeypatch.setattr(probe_index, "PERSIST_MIN", 0)
    cache = tmp_path / "cache"
    monkeypatch.setenv("VSSL_BENCH_CACHE", str(cache))
    return cache / "index"


@pytest.fixture
def probes(monkeypatch) -> list[str]:
    """The paths probed in this process, one entry per probe."""
    seen: list[str] = []

    def counting(path):
        seen.append(path)
        return _uncached(path)

    monkeypatch.setattr(probe_table, "probe", counting)
    return seen


def _uncached(path: str):
    from vssl_bench.data import decode

    decode._PROBE_CACHE.clear()
    return probe(path)


def _same(table, paths: list[str]) -> None:
    for row, path in enumerate(paths):
        a, b = table.info(row), probe(path)
        assert (a.path, a.num_frames, a.fps, a.width, a.height) == (b.path, b.num_frames, b.fps, b.width, b.height)
        assert np.array_equal(a.keyframes, b.keyframes) and np.array_equal(a.pts, b.pts)


def test_the_index_is_written_once_and_read_after_without_probing(clips, tmp_path, persisted, probes):
    paths = _tree(tmp_path / "k400", clips)
    first = probe_index.open_index(paths)
    assert sorted(probes) == sorted(paths)  # every video once
    second = probe_index.open_index(paths)
    assert len(probes) == len(paths)  # nothing more
    assert isinstance(second.num_frames, np.memmap) and second.built["probed"] == len(paths)
    _same(second, paths)
    _same(first, paths)
    files = list(persisted.glob("*.probes"))
    assert len(files) == 1 and not list(Path(p).parent for p in paths if Path(p).parent == persisted)


def test_a_constant_rate_video_costs_at_most_128_bytes_in_the_file(clips, tmp_path, persisted):
    paths = _tree(tmp_path / "k400", clips)
    probe_index.open_index(paths)
    (file,) = persisted.glob("*.probes")
    meta, columns = probe_index.read_index(file)
    pools = sum(columns[f"{name}.pool"].nbytes for name in probe_table.SEQUENCES)
    per_row = sum(c.nbytes for c in columns.values()) - pools
    assert pools == 0  # fixed GOP and constant rate: every sequence is three numbers
    assert per_row / len(paths) <= 128


def test_a_changed_video_is_detected_and_only_it_is_probed_again(clips, tmp_path, persisted, probes):
    paths = _tree(tmp_path / "k400", clips)
    probe_index.open_index(paths)
    changed = paths[PER_CLASS]  # a copy: class 1's first video
    shutil.copy(clips[2] if probe(changed).num_frames != 30 else clips[0], changed)
    os.utime(changed, ns=(1, 1))  # a new modification time whatever the clock's resolution
    probes.clear()
    with pytest.warns(UserWarning, match="1 of 40 videos changed"):
        table = probe_index.open_index(paths)
    assert probes == [changed]
    _same(table, paths)


@pytest.mark.parametrize("damage", ["flip a data byte", "truncate", "garbage"])
def test_a_corrupt_index_is_detected_and_rebuilt(clips, tmp_path, persisted, probes, damage):
    paths = _tree(tmp_path / "k400", clips)
    probe_index.open_index(paths)
    (file,) = persisted.glob("*.probes")
    data = bytearray(file.read_bytes())
    if damage == "flip a data byte":
        data[-9] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not an index" * 10)
    file.write_bytes(bytes(data))
    probes.clear()
    with pytest.warns(UserWarning, match="corrupt"):
        table = probe_index.open_index(paths)
    assert sorted(probes) == sorted(paths)  # nothing of a corrupt file is reused
    _same(table, paths)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probe_index.open_index(paths)  # the rebuilt file is trusted


def test_new_videos_and_other_lists_of_the_same_root_reuse_what_was_probed(clips, tmp_path, persisted, probes):
    paths = _tree(tmp_path / "k400", clips)
    probe_index.open_index(paths[:-5])
    probes.clear()
    table = probe_index.open_index(paths)  # five videos added: a new list, a new file
    assert sorted(probes) == sorted(paths[-5:])
    _same(table, paths)
    probes.clear()
    probe_index.open_index(paths[::-1])  # another order, another subset: nothing to probe
    assert probes == [] and len(list(persisted.glob("*.probes"))) == 3


def test_a_rebuild_asked_for_probes_everything(clips, tmp_path, persisted, probes):
    paths = _tree(tmp_path / "k400", clips)
    probe_index.open_index(paths)
    probes.clear()
    probe_index.open_index(paths, rebuild=True)
    assert sorted(probes) == sorted(paths)


def test_pickled_tables_map_the_same_file(clips, tmp_path, persisted):
    """Spawned loader workers receive the file's name, not a copy of its columns."""
    paths = _tree(tmp_path / "k400", clips)
    table = probe_index.open_index(paths)
    blob = pickle.dumps(table)
    assert len(blob) < sum(len(p) + 8 for p in paths) + 500  # the paths and the file's name, no column
    again = pickle.loads(blob)
    assert isinstance(again.times.a, np.memmap)
    _same(again, paths)


def test_a_held_out_part_reads_its_splits_table(clips, tmp_path, persisted, probes):
    _tree(tmp_path / "k400", clips)
    index = Kinetics400(tmp_path / "k400")
    part = index.subset([3, 0, 7])
    assert part.probes().info(1).path == index.samples[0][0]
    assert len(probes) == len(index) and len(list(persisted.glob("*.probes"))) == 1
    assert part.probes().info(0).num_frames == index.probes().info(3).num_frames


def test_an_unwritable_cache_warns_and_probes_in_memory(clips, tmp_path, persisted, monkeypatch):
    paths = _tree(tmp_path / "k400", clips)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="cannot write the probe index"):
        table = probe_index.open_index(paths, cache=blocked / "index")
    _same(table, paths)


def _one_rank(rank: int, paths: list[str], cache: str, barrier, out: str) -> None:
    """A process that opens the index as every DDP rank does (each runs the whole command)."""
    import time

    from vssl_bench.data import probe_index as index
    from vssl_bench.data import probe_table as table

    index.PERSIST_MIN = 0
    seen = []
    original = table.probe

    def counting(path):
        seen.append(path)
        time.sleep(0.01)  # long enough that both processes are inside the open at once
        return original(path)

    table.probe = counting
    barrier.wait()
    index.open_index(paths, cache)
    Path(out, f"probes{rank}.txt").write_text("\n".join(seen))


def test_two_processes_probe_each_video_once_in_total(clips, tmp_path):
    paths = _tree(tmp_path / "k400", clips)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    ranks = [context.Process(target=_one_rank, args=(r, paths, str(tmp_path / "cache"), barrier, str(tmp_path)))
             for r in (0, 1)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(120)
        assert p.exitcode == 0
    probed = [[line for line in (tmp_path / f"probes{r}.txt").read_text().splitlines() if line] for r in (0, 1)]
    assert sorted(probed[0] + probed[1]) == sorted(paths)  # each video once, in one process or the other
    assert sorted(map(len, probed)) == [0, len(paths)]  # one process built, the other waited and read


def _cut(path: str) -> None:
    data = Path(path).read_bytes()
    Path(path).unlink()
    Path(path).write_bytes(data[: len(data) * 2 // 3])


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_data_check_keeps_its_verdicts_and_rechecks_only_what_changed(clips, tmp_path, persisted, mode):
    from vssl_bench.data.check import check_dataset

    root = tmp_path / "k400"
    paths = _tree(root, clips)
    first = check_dataset("kinetics400", str(root), subsets=["train"], workers=2, mode=mode, progress=False)
    assert first.files == len(paths) and first.cached == 0 and not first.unusable
    again = check_dataset("kinetics400", str(root), subsets=["train"], workers=1, mode=mode, progress=False)
    assert again.cached == len(paths) and not again.unusable
    _cut(paths[PER_CLASS])  # a cut download
    with pytest.warns(UserWarning, match="1 of 40 videos changed"):
        third = check_dataset("kinetics400", str(root), subsets=["train"], workers=1, mode=mode, progress=False)
    assert third.cached == len(paths) - 1
    assert [f.path for f in third.unusable] == [paths[PER_CLASS]]  # its moov atom went with the tail


def test_a_full_verdict_answers_a_fast_check_but_not_the_reverse(clips, tmp_path, persisted):
    from vssl_bench.data.check import check_dataset

    root = tmp_path / "k400"
    paths = _tree(root, clips)
    check_dataset("kinetics400", str(root), subsets=["train"], workers=1, mode="fast", progress=False)
    assert check_dataset("kinetics400", str(root), subsets=["train"], workers=1, mode="full",
                         progress=False).cached == 0
    assert check_dataset("kinetics400", str(root), subsets=["train"], workers=1, mode="fast",
                         progress=False).cached == len(paths)


def _ddp_launch(root: Path, cache: Path, out: Path) -> list[list[str]]:
    import subprocess
    import sys

    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LOCAL_RANK", None)
    script = Path(__file__).with_name("ddp_index_run.py")
    proc = subprocess.run([sys.executable, str(script), str(root), str(cache), str(out)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [[line for line in (out / f"probes{r}.txt").read_text().splitlines() if line] for r in (0, 1)]


def test_a_two_rank_ddp_launch_probes_each_video_once_and_a_relaunch_not_at_all(clips, tmp_path):
    """Through Lightning's own DDP launch (rank 1 a new process running the whole script), not hand-made
    processes: the ranks of a pretraining stage share one build, and the next stage (or requeue) reads it."""
    paths = _tree(tmp_path / "k400", clips)
    cache = tmp_path / "cache"
    first = _ddp_launch(tmp_path / "k400", cache, tmp_path / "first")
    assert sorted(first[0] + first[1]) == sorted(os.path.realpath(p) for p in paths) or \
        sorted(first[0] + first[1]) == sorted(paths)  # each video once, in one rank or the other
    assert sorted(map(len, first)) == [0, len(paths)]
    assert len(list(cache.glob(f"*{probe_index.SUFFIX}"))) == 1
    again = _ddp_launch(tmp_path / "k400", cache, tmp_path / "again")
    assert again == [[], []]

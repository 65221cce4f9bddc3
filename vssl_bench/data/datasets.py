"""Dataset indexes: official split files -> ``samples: list[(video path, 0-based label)]`` and ``classes``.

The classes follow torchvision's conventions and read the datasets in the layouts their authors publish:

* UCF101: ``root/<Class>/<video>.avi`` with ``ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt``.
* HMDB51: ``root/<class>/<video>.avi`` with ``testTrainMulti_7030_splits/<class>_test_split<N>.txt``.
* Kinetics-400: ``root/<subset>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`` with the official CSV,
  or any class-folder tree under ``root/<subset>``.

Missing videos are an error by default (the message counts them and lists the first few); with
``missing="skip"`` they are dropped with one warning that says how many.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from vssl_bench.data import probe_index
from vssl_bench.data.probe_table import ProbeTable, RowView
from vssl_bench.data.synthetic import SyntheticSpec, ensure_synthetic, generate
from vssl_bench.errors import ConfigError, DatasetNotFoundError, MissingVideosError, SplitFileError

Missing = Literal["error", "skip"]
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v")


class VideoIndex:
    """A list of ``(path, label)`` samples and the class names the labels index."""

    name = "videos"

    def __init__(self, samples: list[tuple[str, int]], classes: list[str]) -> None:
        self.samples = samples
        self.classes = classes
        self.absent: list[str] = []  # listed in the split files but not on disk (kept only with missing="skip")
        self._probes: ProbeTable | RowView | None = None
        self._parent: tuple[VideoIndex, list[int]] | None = None

    def probes(self, workers: int | None = 0, cache: str | os.PathLike | None = None) -> ProbeTable | RowView:
        """Every sample's probe (frame count, keyframes, timestamps), made on first use and kept with the
        index: loaders built from it never probe a video again. Lists of ``probe_index.PERSIST_MIN``
        videos or more are read from their persisted index in ``cache`` (built first if needed, with
        every core held); shorter ones are probed here with ``workers`` processes. A part of another
        index (``subset``) reads its parent's table."""
        if self._probes is None:
            paths = [path for path, _ in self.samples]
            if self._parent is not None:
                parent, rows = self._parent
                self._probes = parent.probes(workers, cache).select(rows)
            elif len(paths) >= probe_index.PERSIST_MIN:
                self._probes = probe_index.open_index(paths, cache)
            else:
                self._probes = ProbeTable(paths, workers)
        return self._probes

    def subset(self, rows: list[int]) -> VideoIndex:
        """The samples at ``rows`` (in that order), probed through this index's table."""
        part = VideoIndex([self.samples[i] for i in rows], self.classes)
        part._parent = (self, list(rows))
        return part

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.samples[i]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.samples)} videos, {len(self.classes)} classes)"


def _check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, allowed))}.")


def _require_dir(path: Path, what: str, fix: str) -> None:
    if not path.is_dir():
        raise DatasetNotFoundError(f"{what} not found: looked for the folder {path}. {fix}")


def _require_file(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        raise DatasetNotFoundError(f"{what} not found: looked for the file {path}. {fix}")


def _read_lines(path: Path) -> list[str]:
    """Non-empty lines without line endings (the official files use CRLF) or trailing blanks."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return [line.strip() for line in f.read().splitlines() if line.strip()]


class _FolderLookup:
    """Resolves ``folder/file`` case-insensitively when the exact spelling is absent (UCF101's
    ``HandstandPushups`` folder holds ``v_HandStandPushups_*`` files, and copies of the dataset differ)."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, str]] = {}

    def resolve(self, root: Path, *parts: str) -> Path | None:
        exact = root.joinpath(*parts)
        if exact.exists():
            return exact
        current = root
        for part in parts:
            if current not in self._listings:
                try:
                    self._listings[current] = {p.lower(): p for p in os.listdir(current)}
                except OSError:
                    return None
            real = self._listings[current].get(part.lower())
            if real is None:
                return None
            current = current / real
        return current


def _apply_missing_policy(
    found: list[tuple[str, int]], missing: list[str], dataset: str, root: Path, policy: Missing
) -> list[tuple[str, int]]:
    if not missing:
        return found
    total = len(found) + len(missing)
    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    if policy == "skip":
        warnings.warn(
            f"{dataset}: skipped {len(missing)} of {total} videos listed in the split but absent under {root} "
            f"(first: {shown}).",
            stacklevel=3,
        )
        return found
    raise MissingVideosError(
        f"{dataset}: {len(missing)} of {total} videos listed in the split are missing under {root} "
        f"(first: {shown}). Check the dataset root, or pass missing='skip' to train on the videos present."
    )


class UCF101(VideoIndex):
    """UCF101 with the official ``ucfTrainTestlist`` split files; labels follow ``classInd.txt``."""

    name = "ucf101"

    def __init__(
        self,
        root: str | os.PathLike,
        split: int = 1,
        subset: Literal["train", "test"] = "train",
        annotation_dir: str | os.PathLike | None = None,
        missing: Missing = "error",
    ) -> None:
        _check_choice("split", split, (1, 2, 3))
        _check_choice("subset", subset, ("train", "test"))
        _check_choice("missing", missing, ("error", "skip"))
        root = Path(root)
        _require_dir(root, "UCF101 video root", "Pass the folder that holds the 101 class folders (UCF-101/).")
        ann = Path(annotation_dir) if annotation_dir is not None else root / "ucfTrainTestlist"
        fix = "Unpack the official UCF101TrainTestSplits-RecognitionTask.zip there or pass annotation_dir."
        _require_dir(ann, "UCF101 annotation folder", fix)
        class_file = ann / "classInd.txt"
        split_file = ann / f"{subset}list0{split}.txt"
        _require_file(class_file, "UCF101 class index", fix)
        _require_file(split_file, f"UCF101 {subset} split {split}", fix)

        classes: list[str] = []
        for number, line in enumerate(_read_lines(class_file), start=1):
            fields = line.split()
            if len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) != number:
                raise SplitFileError(
                    f"{class_file}:{number}: expected '<index> <ClassName>' with index {number}, got {line!r}."
                )
            classes.append(fields[1])
        by_lower = {c.lower(): i for i, c in enumerate(classes)}

        lookup = _FolderLookup()
        found: list[tuple[str, int]] = []
        absent: list[str] = []
        for number, line in enumerate(_read_lines(split_file), start=1):
            fields = line.split()
            rel = fields[0].replace("\\", "/")
            if "/" not in rel or len(fields) > 2:
                raise SplitFileError(f"{split_file}:{number}: expected '<Class>/<video>.avi [index]', got {line!r}.")
            folder, filename = rel.split("/", 1)
            label = by_lower.get(folder.lower())
            if label is None:
                raise SplitFileError(f"{split_file}:{number}: class {folder!r} is not in {class_file}.")
            if len(fields) == 2 and (not fields[1].isdigit() or int(fields[1]) != label + 1):
                raise SplitFileError(
                    f"{split_file}:{number}: label {fields[1]!r} disagrees with {class_file} "
                    f"({folder} is {label + 1}). Use matching official files."
                )
            path = lookup.resolve(root, folder, filename)
            if path is None:
                absent.append(rel)
            else:
                found.append((str(path), label))
        super().__init__(_apply_missing_policy(found, absent, "UCF101", root, missing), classes)
        self.absent = [str(root / a) for a in absent]


class HMDB51(VideoIndex):
    """HMDB51 with the official ``testTrainMulti_7030_splits``: flag 1 = train, 2 = test, 0 = unused."""

    name = "hmdb51"
    _SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")

    def __init__(
        self,
        root: str | os.PathLike,
        split: int = 1,
        subset: Literal["train", "test"] = "train",
        annotation_dir: str | os.PathLike | None = None,
        missing: Missing = "error",
    ) -> None:
        _check_choice("split", split, (1, 2, 3))
        _check_choice("subset", subset, ("train", "test"))
        _check_choice("missing", missing, ("error", "skip"))
        root = Path(root)
        _require_dir(root, "HMDB51 video root", "Pass the folder that holds the 51 class folders.")
        ann = Path(annotation_dir) if annotation_dir is not None else root / "testTrainMulti_7030_splits"
        fix = "Unpack the official test_train_splits.rar there or pass annotation_dir."
        _require_dir(ann, "HMDB51 split folder", fix)
        split_files: dict[str, Path] = {}
        for entry in sorted(os.listdir(ann)):
            match = self._SPLIT_FILE.match(entry)
            if match and int(match["split"]) == split:
                split_files[match["cls"]] = ann / entry
        if not split_files:
            raise DatasetNotFoundError(
                f"HMDB51 split {split} not found: no '<class>_test_split{split}.txt' files in {ann}. {fix}"
            )
        classes = sorted(split_files)
        wanted_flag = "1" if subset == "train" else "2"
        lookup = _FolderLookup()
        found: list[tuple[str, int]] = []
        absent: list[str] = []
        for label, cls in enumerate(classes):
            for number, line in enumerate(_read_lines(split_files[cls]), start=1):
                fields = line.split()
                if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                    raise SplitFileError(
                        f"{split_files[cls]}:{number}: expected '<video>.avi <0|1|2>', got {line!r}."
                    )
                if fields[1] != wanted_flag:
                    continue
                path = lookup.resolve(root, cls, fields[0])
                if path is None:
                    absent.append(f"{cls}/{fields[0]}")
                else:
                    found.append((str(path), label))
        super().__init__(_apply_missing_policy(found, absent, "HMDB51", root, missing), classes)
        self.absent = [str(root / a) for a in absent]


class Kinetics400(VideoIndex):
    """Kinetics-400 from the official CSV (``label,youtube_id,time_start,time_end,split``) or class folders."""

    name = "kinetics400"

    def __init__(
        self,
        root: str | os.PathLike,
        subset: Literal["train", "val"] = "train",
        annotations: str | os.PathLike | None = None,
        missing: Missing = "error",
    ) -> None:
        _check_choice("subset", subset, ("train", "val"))
        _check_choice("missing", missing, ("error", "skip"))
        root = Path(root)
        videos = root / subset
        _require_dir(videos, f"Kinetics-400 {subset} folder", f"Videos go under {root}/{subset}/<label>/.")
        if annotations is None:
            samples, classes = self._from_folders(videos)
            absent = []
        else:
            samples, classes, absent = self._from_csv(videos, Path(annotations), missing, root)
        super().__init__(samples, classes)
        self.absent = [str(videos / a) for a in absent]

    @staticmethod
    def _from_folders(videos: Path) -> tuple[list[tuple[str, int]], list[str]]:
        classes = sorted(d.name for d in videos.iterdir() if d.is_dir())
        if not classes:
            raise DatasetNotFoundError(f"Kinetics-400: no class folders under {videos}.")
        samples = [
            (str(videos / cls / f), label)
            for label, cls in enumerate(classes)
            for f in sorted(os.listdir(videos / cls))
            if f.lower().endswith(VIDEO_EXTENSIONS)
        ]
        return samples, classes

    @staticmethod
    def _from_csv(
        videos: Path, annotations: Path, missing: Missing, root: Path
    ) -> tuple[list[tuple[str, int]], list[str], list[str]]:
        _require_file(annotations, "Kinetics-400 annotation CSV", "Pass the official kinetics-400_<subset>.csv.")
        with open(annotations, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            needed = {"label", "youtube_id", "time_start", "time_end"}
            if reader.fieldnames is None or not needed <= set(reader.fieldnames):
                raise SplitFileError(
                    f"{annotations}: header must contain {sorted(needed)}, got {reader.fieldnames}."
                )
            rows = list(reader)
        classes = sorted({row["label"] for row in rows})
        class_to_idx = {c: i for i, c in enumerate(classes)}
        lookup = _FolderLookup()
        found: list[tuple[str, int]] = []
        absent: list[str] = []
        for number, row in enumerate(rows, start=2):
            try:
                name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
            except ValueError as exc:
                raise SplitFileError(f"{annotations}:{number}: bad time_start/time_end in {row}.") from exc
            label = row["label"]
            path = lookup.resolve(videos, label, name) or lookup.resolve(videos, label.replace(" ", "_"), name)
            if path is None:
                absent.append(f"{label}/{name}")
            else:
                found.append((str(path), class_to_idx[label]))
        return _apply_missing_policy(found, absent, "Kinetics-400", root, missing), classes, absent


DATASETS: dict[str, type[VideoIndex]] = {"ucf101": UCF101, "hmdb51": HMDB51, "kinetics400": Kinetics400}


class Synthetic(UCF101):
    """The built-in procedural dataset (see :mod:`vssl_bench.data.synthetic`), generated and cached on
    first use and read by the UCF101 reader. ``root=None`` uses the cache (``$VSSL_BENCH_CACHE`` or
    ``~/.cache/vssl-bench``); a given ``root`` receives the dataset if it does not hold one yet."""

    name = "synthetic"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        subset: Literal["train", "test"] = "train",
        seed: int = 0,
        missing: Missing = "error",
    ) -> None:
        spec = SyntheticSpec(seed=seed)
        location = ensure_synthetic(spec) if root is None else generate(root, spec)
        super().__init__(location, split=1, subset=subset, missing=missing)


DATASETS["synthetic"] = Synthetic


def build_index(
    name: str,
    root: str | os.PathLike | None,
    subset: str,
    split: int = 1,
    missing: Missing = "error",
    annotations: str | os.PathLike | None = None,
) -> VideoIndex:
    """One entry point for the data module: ``subset`` is ``train`` or ``test`` (Kinetics' ``val``)."""
    _check_choice("dataset", name, DATASETS)
    if name == "synthetic":
        return Synthetic(root, subset=subset, missing=missing)  # type: ignore[arg-type]
    if root is None:
        raise ConfigError(f"dataset {name!r} needs a root folder: pass --data.root (or --data-root).")
    if name == "kinetics400":
        return Kinetics400(root, subset="val" if subset == "test" else subset, annotations=annotations,
                           missing=missing)  # type: ignore[arg-type]
    cls = DATASETS[name]
    return cls(root, split=split, subset=subset, annotation_dir=annotations, missing=missing)  # type: ignore[call-arg]

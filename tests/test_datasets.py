from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vssl_bench.data.datasets import HMDB51, UCF101, Kinetics400, build_index
from vssl_bench.errors import ConfigError, DatasetNotFoundError, MissingVideosError, SplitFileError


def touch_listed_ucf_videos(root: Path, ann: Path, split: int = 1) -> None:
    for subset in ("train", "test"):
        for line in (ann / f"{subset}list0{split}.txt").read_text().splitlines():
            if line.strip():
                path = root / line.split()[0]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()


def test_official_ucf101_split_files(shared_data, tmp_path):
    ann = shared_data / "ucfTrainTestlist"
    touch_listed_ucf_videos(tmp_path, ann)
    train = UCF101(tmp_path, split=1, subset="train", annotation_dir=ann)
    test = UCF101(tmp_path, split=1, subset="test", annotation_dir=ann)
    assert len(train.classes) == 101 and train.classes[0] == "ApplyEyeMakeup"
    assert (len(train), len(test)) == (9537, 3783)
    assert set(train.targets) == set(range(101))
    hand = train.class_to_idx["HandstandPushups"]
    assert any("v_HandStandPushups_g08_c01.avi" in p and y == hand for p, y in train.samples)
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}


def test_official_hmdb51_split_files(shared_data, tmp_path):
    ann = shared_data / "testTrainMulti_7030_splits"
    for split_file in ann.glob("*_test_split1.txt"):
        cls = split_file.name[: -len("_test_split1.txt")]
        (tmp_path / cls).mkdir()
        for line in split_file.read_text().splitlines():
            if line.strip():
                (tmp_path / cls / line.split()[0]).touch()
    train = HMDB51(tmp_path, split=1, subset="train", annotation_dir=ann)
    test = HMDB51(tmp_path, split=1, subset="test", annotation_dir=ann)
    assert len(train.classes) == 51 and train.classes == sorted(train.classes)
    assert (len(train), len(test)) == (3570, 1530)
    assert any("(" in p or "!" in p or "&" in p for p, _ in train.samples + test.samples)


def test_official_kinetics_csv_with_some_videos_missing(shared_data, tmp_path):
    csv_path = shared_data / "kinetics400" / "kinetics-400_val.csv"
    lines = csv_path.read_text().splitlines()
    import csv as csvmod

    rows = list(csvmod.DictReader(lines))
    for row in rows[:30]:
        name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
        folder = tmp_path / "val" / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).touch()
    with pytest.raises(MissingVideosError, match=r"19876 of 19906 videos"):
        Kinetics400(tmp_path, subset="val", annotations=csv_path)
    with pytest.warns(UserWarning, match="skipped 19876 of 19906"):
        k400 = Kinetics400(tmp_path, subset="val", annotations=csv_path, missing="skip")
    assert len(k400) == 30 and len(k400.classes) == 400


def write_ucf_annotations(ann: Path, classes: list[str], train: list[str], test: list[str]) -> None:
    ann.mkdir(parents=True)
    crlf = "\r\n"
    (ann / "classInd.txt").write_bytes(crlf.join(f"{i} {c}" for i, c in enumerate(classes, 1)).encode() + b"\r\n")
    idx = {c: i for i, c in enumerate(classes, 1)}
    (ann / "trainlist01.txt").write_bytes(
        (crlf.join(f"{v} {idx[v.split('/')[0]]}" for v in train) + crlf).encode())
    (ann / "testlist01.txt").write_bytes((crlf.join(test) + crlf).encode())


@pytest.fixture
def small_ucf(tmp_path) -> Path:
    classes = ["Archery", "HandstandPushups"]
    train = ["Archery/v_Archery_g08_c01.avi", "HandstandPushups/v_HandStandPushups_g08_c01.avi"]
    test = ["Archery/v_Archery_g01_c01.avi", "HandstandPushups/v_HandStandPushups_g01_c01.avi"]
    write_ucf_annotations(tmp_path / "ucfTrainTestlist", classes, train, test)
    for rel in train + test:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).touch()
    return tmp_path


def test_own_ucf_files_with_crlf_and_case_quirk(small_ucf):
    # a copy of the dataset whose folder spelling differs from the split file's
    shutil.move(small_ucf / "HandstandPushups", small_ucf / "handstandpushups")
    ds = UCF101(small_ucf, subset="train")
    assert ds.classes == ["Archery", "HandstandPushups"]
    assert [y for _, y in ds.samples] == [0, 1]
    assert Path(ds.samples[1][0]).exists()


def test_missing_videos_error_names_count_and_files(small_ucf):
    (small_ucf / "Archery" / "v_Archery_g01_c01.avi").unlink()
    with pytest.raises(MissingVideosError, match=r"1 of 2 videos.*v_Archery_g01_c01.avi.*missing='skip'"):
        UCF101(small_ucf, subset="test")
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        assert len(UCF101(small_ucf, subset="test", missing="skip")) == 1


def test_wrong_root_and_missing_split_file_name_what_was_looked_for(small_ucf, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        UCF101(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="trainlist02.txt"):
        UCF101(small_ucf, split=2)
    with pytest.raises(ConfigError, match="split=4"):
        UCF101(small_ucf, split=4)
    with pytest.raises(DatasetNotFoundError, match="testTrainMulti_7030_splits"):
        HMDB51(small_ucf)


def test_corrupt_split_lines_are_reported_with_file_and_line(small_ucf):
    ann = small_ucf / "ucfTrainTestlist"
    (ann / "trainlist01.txt").write_text("Archery/v_Archery_g08_c01.avi 2\n")
    with pytest.raises(SplitFileError, match=r"trainlist01.txt:1: label '2' disagrees"):
        UCF101(small_ucf)
    (ann / "trainlist01.txt").write_text("Bowling/v_Bowling_g08_c01.avi 1\n")
    with pytest.raises(SplitFileError, match="class 'Bowling' is not in"):
        UCF101(small_ucf)


def test_hmdb_bad_flag_and_kinetics_folder_mode(tmp_path):
    ann = tmp_path / "hmdb" / "testTrainMulti_7030_splits"
    ann.mkdir(parents=True)
    (tmp_path / "hmdb" / "wave").mkdir()
    (tmp_path / "hmdb" / "wave" / "a.avi").touch()
    (ann / "wave_test_split1.txt").write_text("a.avi 7 \n")
    with pytest.raises(SplitFileError, match=r"wave_test_split1.txt:1"):
        HMDB51(tmp_path / "hmdb")
    for label, name in [("b class", "x.mp4"), ("a class", "y.mp4")]:
        (tmp_path / "k" / "train" / label).mkdir(parents=True)
        (tmp_path / "k" / "train" / label / name).touch()
    k = Kinetics400(tmp_path / "k", subset="train")
    assert k.classes == ["a class", "b class"] and sorted(y for _, y in k.samples) == [0, 1]


def test_build_index_validates_names(tmp_path):
    with pytest.raises(ConfigError, match="dataset='ucf'"):
        build_index("ucf", tmp_path, "train")
    with pytest.raises(ConfigError, match="needs a root"):
        build_index("hmdb51", None, "train")

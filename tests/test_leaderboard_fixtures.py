"""Run records as a sweep writes them, for the leaderboard tests (and a look at the page by hand:
``python tests/test_leaderboard_fixtures.py /tmp/lb`` writes records and the tables there).

Quick scale: Pace and PRP on R3D-10 with random init of R3D-10, three seeds of pretraining and the
frozen-feature protocols, fine-tuning on seed 0, pretraining logs (Pace's loss ends at chance, ln 4);
paper scale: RSPNet C3D (fine-tuning and retrieval on UCF101), PRP C3D fine-tuned with a frozen backbone
(a linear probe), and RSPNet's 1000-epoch S3D-G cell on all three UCF101 splits."""

from __future__ import annotations

import sys
from pathlib import Path

from vssl_bench.records import write_record
from vssl_bench.report.leaderboard import write_leaderboard

VERSIONS = {"vssl_bench": "0.1.0", "torch": "2.14.1", "lightning": "2.5.0", "av": "14.0.0", "python": "3.11.9"}
QUICK = {"synthetic": {"pace": (17.7, [(14.6, 30.2), (15.6, 31.3), (16.7, 32.3)]),
                       "prp": (21.9, [(18.8, 40.6), (20.8, 41.7), (19.8, 42.7)]),
                       "scratch": (17.7, [(12.5, 29.2), (13.5, 30.2), (12.5, 28.1)])}}


def _base(method: str, backbone: str, data: str, scale: str, seed: int, recipe: str) -> dict:
    label = f"scratch-{backbone}-{scale}" if method == "scratch" else f"{method}-{backbone}-{data}-{scale}"
    return {"status": "ok", "method": method, "backbone": backbone, "scale": scale, "seed": seed,
            "cell": label + (f"-seed{seed}" if seed else ""), "recipe": recipe, "versions": VERSIONS,
            "device": "cpu (2 cores, x86_64)", "started": "2026-12-01T10:00:00+00:00",
            "pretrain_data": "none" if method == "scratch" else ("synthetic" if scale == "quick" else data),
            "paper_pretrain_data": data, "extrapolated": "", "variant": ""}


def write_records(root: Path, logs: bool = True) -> None:
    runs, work = root / "runs", root / "work"
    recipes = {"pace": "experiments/pace/r3d10_ucf101.yaml", "prp": "experiments/prp/r3d10_ucf101.yaml",
               "scratch": "experiments/pace/r3d10_ucf101.yaml"}
    for method, (ft, frozen) in QUICK["synthetic"].items():
        for seed, (r1, probe) in enumerate(frozen):
            base = _base(method, "r3d10", "ucf101", "quick", seed, recipes[method])
            cell = base["cell"]
            if method != "scratch":
                write_record(runs / cell / "pretrain.json", {
                    **base, "stage": "pretrain", "kind": "pretrain", "protocol": "pretext", "dataset": "synthetic",
                    "metrics": {"pretext": {"acc/pace" if method == "pace" else "acc/rate": {
                        "accuracy": 28.0 + seed, "chance": 25.0}}},
                    "wall_s": 41.5 + seed, "config": {"trainer": {"max_epochs": 4},
                                                                     "model": {"max_pace": 4}}})
                if logs:
                    log = work / cell / "pretrain" / "logs" / "version_0" / "metrics.csv"
                    log.parent.mkdir(parents=True, exist_ok=True)
                    losses = [1.46, 1.43, 1.40, 1.39] if method == "pace" else [2.1, 1.9, 1.8, 1.75]
                    acc = "train/acc/pace" if method == "pace" else "train/acc/rate"
                    log.write_text(f"epoch,step,train/epoch_loss,{acc}\n" + "".join(
                        f"{e},{e},{loss + 0.01 * seed},{0.25 + 0.01 * e}\n" for e, loss in enumerate(losses)))
            write_record(runs / cell / "retrieval-synthetic.json", {
                **base, "stage": "retrieval-synthetic", "kind": "retrieval", "protocol": "nn-retrieval",
                "dataset": "synthetic", "split": 1, "wall_s": 0.8,
                "config": {"clip_len": 8, "crop_size": 32, "datasets": ["synthetic"]},
                "metrics": {"R@1": r1, "R@5": r1 + 30, "R@10": r1 + 50, "R@20": 95.8, "R@50": 100.0,
                            "probe_top1": probe}})
            if seed == 0:
                write_record(runs / cell / "finetune-synthetic.json", {
                    **base, "stage": "finetune-synthetic", "kind": "finetune", "protocol": "full-finetune",
                    "dataset": "synthetic", "split": 1, "wall_s": 20.0,
                    "config": {"datasets": {"synthetic": {"epochs": 8, "clip_len": 8, "crop_size": 32}}},
                    "metrics": {"top1": ft, "top5": 60.0, "top1_last": ft, "select": "last", "selected_epoch": 7}})
    extra = {**_base("rspnet", "r3d10", "kinetics400", "quick", 0, "experiments/rspnet/r3d10_k400.yaml"),
             "extrapolated": "RSPNet reports R3D-18, not R3D-10"}
    write_record(runs / extra["cell"] / "retrieval-synthetic.json", {
        **extra, "stage": "retrieval-synthetic", "dataset": "synthetic", "wall_s": 0.8,
        "config": {"clip_len": 8, "crop_size": 32}, "metrics": {"R@1": 13.0, "probe_top1": 30.0}})
    rsp = _base("rspnet", "c3d", "kinetics400", "paper", 0, "experiments/rspnet/c3d_k400.yaml")
    ft_config = {"datasets": {"ucf101": {"epochs": 30, "clip_len": 16, "crop_size": 112}}}
    write_record(runs / rsp["cell"] / "finetune-ucf101.json", {
        **rsp, "stage": "finetune-ucf101", "split": 1, "dataset": "ucf101", "config": ft_config,
        "metrics": {"top1": 70.0}, "wall_s": 3600})
    write_record(runs / rsp["cell"] / "retrieval-ucf101.json", {
        **rsp, "stage": "retrieval-ucf101", "dataset": "ucf101", "wall_s": 300,
        "config": {"clip_len": 16, "crop_size": 112}, "metrics": {"R@1": 40.1, "R@5": 60.0, "probe_top1": 55.0}})
    prp = _base("prp", "c3d", "ucf101", "paper", 0, "experiments/prp/c3d_ucf101.yaml")
    write_record(runs / prp["cell"] / "finetune-ucf101.json", {  # a legacy record: no kind/protocol, frozen backbone
        **prp, "stage": "finetune-ucf101", "split": 1, "dataset": "ucf101", "metrics": {"top1": 50.0},
        "config": {"datasets": {"ucf101": {"linear_probe": True, "epochs": 30, "clip_len": 16, "crop_size": 112}}}})
    s3d = {**_base("rspnet", "s3dg", "kinetics400", "paper", 0, "experiments/rspnet/s3dg_k400_1000ep.yaml"),
           "variant": "1000ep", "cell": "rspnet-s3dg-k400-1000ep-paper"}
    for split, top1 in ((1, 90.0), (2, 91.0), (3, 92.0)):
        write_record(runs / s3d["cell"] / f"finetune-ucf101-split{split}.json", {
            **s3d, "stage": "finetune-ucf101" + (f"-split{split}" if split > 1 else ""), "split": split,
            "dataset": "ucf101", "metrics": {"top1": top1},
            "config": {"datasets": {"ucf101": {"epochs": 30, "clip_len": 64, "crop_size": 224}}}})


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write_records(out)
    print("\n".join(str(p) for p in write_leaderboard(out).values()))

"""The benchmark scripts keep working and report the figures the README quotes (tiny settings:
this checks the scripts, it measures nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_loader_benchmark_reports_the_ratio_to_the_decode_limit():
    report = run("loader_throughput.py", "--videos", "1", "--samples", "2", "--size", "64,85")
    assert set(report["containers"]) == {"ucf101_avi", "kinetics_mp4", "kinetics_mp4_transcoded"}
    for container in report["containers"].values():
        assert set(container["samplers"]) == {"rspnet/ascnet", "pace", "prp"}
        for figures in container["samplers"].values():
            assert figures["loader_samples_per_s"] > 0 and figures["decode_limit_samples_per_s"] > 0
            assert figures["ratio"] > 0


def test_train_benchmark_reports_model_only_end_to_end_and_their_ratio(synthetic_root):
    report = run("train_throughput.py", "--method", "rspnet", "--backbone", "r3d10", "--width", "0.125",
                 "--clip_len", "4", "--crop", "32", "--frame_size", "48,60", "--batch", "2", "--workers", "0",
                 "--steps", "1", "--warmup", "0")
    assert report["model_only_clips_per_s"] > 0 and report["end_to_end_clips_per_s"] > 0
    ratio = report["end_to_end_clips_per_s"] / report["model_only_clips_per_s"]
    assert abs(report["gpu_busy"] - ratio) < 0.01

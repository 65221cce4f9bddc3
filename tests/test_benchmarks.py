"""The benchmark scripts keep working and report the figures the README quotes (tiny settings:
this checks the scripts, it measures nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def run(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_loader_benchmark_prints_readers_side_by_side_and_the_loader_overhead(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "loader_throughput.py"), "--videos", "1", "--samples", "2",
                           "--rounds", "1", "--sizes", "64x85,full", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    containers = {"ucf101_avi", "ucf101_avi_one_key", "ucf101_avi_packed", "kinetics_mp4", "kinetics_mp4_transcoded"}
    assert set(report["containers"]) == containers
    peers = [name for name in report["readers"] if not name.startswith("ours")]
    for peer in ("torchcodec", "decord"):  # each peer is either measured or skipped with a note
        assert any(name.startswith(peer) for name in peers) != (peer in report["peer_notes"])
    for kind, container in report["containers"].items():
        assert set(container["peers"]) == {"rspnet/ascnet", "pace", "prp"}
        for by_size in container["peers"].values():
            assert set(by_size) == {"64x85", "full"}
            for figures in by_size.values():
                assert figures["ours"]["exact"] == "2/2", kind  # our reads are exact on every container
                assert figures["ours"]["clips_per_s"] > 0
        for figures in container["loader"].values():
            assert figures["loader_samples_per_s"] > 0 and figures["reader_samples_per_s"] > 0
    table = proc.stdout
    assert "| container | sampler | size | ours | ours_cold |" in table
    assert table.count("| ucf101_avi_packed |") == 6  # 3 samplers x 2 sizes


def test_exactness_check_catches_wrong_and_shifted_frames():
    from loader_throughput import is_exact

    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, size=(30, 16, 20, 3), dtype=np.uint8)
    indices = np.array([3, 4, 10, 20])
    assert is_exact(reference[indices], indices, reference)
    nudged = np.clip(reference[indices].astype(int) + 2, 0, 255).astype(np.uint8)  # colour conversion differences
    assert is_exact(nudged, indices, reference)
    assert not is_exact(reference[indices + 1], indices, reference)  # off by one frame
    assert not is_exact(reference[indices][:3], indices, reference)  # a frame missing


def test_ratio_is_against_the_fastest_exact_peer():
    from loader_throughput import with_ratio

    figures = with_ratio({"ours": {"clips_per_s": 50.0, "exact": "8/8"},
                          "ours_cold": {"clips_per_s": 40.0, "exact": "8/8"},
                          "fast but wrong": {"clips_per_s": 100.0, "exact": "0/8"},
                          "exact peer": {"clips_per_s": 40.0, "exact": "8/8"},
                          "broken peer": {"error": "RuntimeError: boom"}})
    assert figures["ratio_to_best_exact_peer"] == 1.25


def test_train_benchmark_times_lightning_fit_past_the_prefetched_batches(tmp_path):
    """Through ``Trainer.fit`` on Kinetics-like H.264, warm-up and timed steps beyond the batches the
    workers hold ready, FLOPs of the step as it ran; on CPU the busy fraction says it is not measurable."""
    tiny = ["--method", "rspnet", "--backbone", "r3d10", "--width", "0.125", "--clip_len", "4", "--crop", "32",
            "--frame_size", "48,64", "--batch", "2", "--workers", "1", "--prefetch", "1", "--videos", "2",
            "--video_size", "86x64", "--video_frames", "40", "--gop", "20", "--cache", str(tmp_path)]
    report = run("train_throughput.py", *tiny, "--steps", "2")
    assert report["through"] == "Trainer.fit" and "H.264" in report["input"]
    assert report["warmup_steps"] > report["batches_in_flight"] and report["timed_steps"] > report["batches_in_flight"]
    assert report["clips_per_s"] == pytest.approx(3 * report["samples_per_s"], rel=0.01)  # q, k, k-
    assert report["train_flops_per_step"] > 0 and 0 <= report["between_steps_share"] < 1
    assert "not measurable on CPU" in report["busy_fraction"] and report["timed_window"] == "without the profiler"
    assert report["mfu"] == report["peak"] == "no bf16 tensor-core peak on a CPU"
    refused = subprocess.run([sys.executable, str(BENCHMARKS / "train_throughput.py"), *tiny, "--steps", "1"],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "must both exceed the 1 batches" in refused.stderr


def test_gpu_check_smoke_mode_reports_every_section():
    """The prepared first-GPU check runs end to end on a CPU (tiny sizes): every section is there, with
    the figures its README table needs."""
    report = run("gpu_check.py", "--smoke", "--steps", "1")
    assert report["smoke"] and report["device"].startswith("cpu")
    assert {(r["channels_last"], r["cudnn_autotune"]) for r in report["backbones"]} == {(False, False), (True, False)}
    assert all(r["s_per_step"] > 0 and r["tflops_per_s"] >= 0 for r in report["backbones"])
    methods = {r["method"]: r for r in report["methods"]}
    assert set(methods) == {"rspnet", "pace", "prp", "ascnet"}
    for row in methods.values():
        assert row["step_s"] > 0 and row["train_flops_per_step"] > 0 and row["samples_per_s"] > 0
        assert row["forward_s"] > 0 and row["backward_step_s"] > 0
    assert set(report["syncs"]) == set(methods)
    lightning = report["lightning"]
    assert lightning["lightning_fit_s"] > 0 and lightning["bare_loop_s"] > 0
    assert lightning["memory_layout"].startswith("contiguous") and lightning["precision"].startswith("32-true")
    assert set(report["decode"]["per_sample_ms"]) == {"rspnet", "pace", "prp", "ascnet", "finetune"}
    assert set(report["decode"]["cores_per_gpu"]) == set(methods) and report["decode"]["nvdec"]


def test_peaks_are_per_variant_from_the_device_name_and_unknown_devices_ask_for_one(monkeypatch):
    """Dense bf16 peaks by variant (the H100 PCIe and NVL are slower than the SXM); a device with no entry
    has no peak, and on such a GPU the scripts stop and ask for ``--peak`` instead of guessing."""
    import device_figures
    import torch

    peaks = {"NVIDIA H100 80GB HBM3": 989e12, "NVIDIA H100 PCIe": 756e12, "NVIDIA H100 NVL": 835e12,
             "NVIDIA H200": 989e12, "NVIDIA H200 NVL": 835e12, "NVIDIA GH200 480GB": 989e12,
             "NVIDIA A100-SXM4-80GB": 312e12, "NVIDIA A100 80GB PCIe": 312e12, "NVIDIA A10": 125e12}
    assert {name: device_figures.device_peak(name)[1] for name in peaks} == peaks
    for unknown in ("NVIDIA H100", "NVIDIA A10G", "Tesla T4", "NVIDIA B200"):
        assert device_figures.device_peak(unknown) is None
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    with pytest.raises(SystemExit, match="--peak"):
        device_figures.resolve_peak(cuda, None)
    assert device_figures.resolve_peak(cuda, 65e12)[0] == 65e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    peak, source = device_figures.resolve_peak(cuda, None)
    assert peak == 756e12 and "H100 PCIe" in source


def test_cores_per_gpu_measures_every_profile_against_the_reference(tmp_path):
    """Every profile the transcode command offers (the default first) is measured with all levers and
    against the reference in the same run; each lever alone; shares that add up; disk and CPU per video;
    cores from the measured costs and an assumed GPU rate."""
    from vssl_bench.data.transcode import DEFAULT_PROFILE, PROFILES

    report = run("cores_per_gpu.py", "--videos", "1", "--samples", "1", "--rounds", "1", "--backbone", "r3d10",
                 "--video_size", "172x128", "--frames", "40", "--mfu", "0.2", "--cache", str(tmp_path))
    assert "assumed, not measured" in report["assumed"]
    for what, costs in report["decode_ms_per_sample"].items():
        assert set(costs) == {"rspnet", "pace", "prp", "ascnet", "finetune"} and all(ms > 0 for ms in costs.values())
        for m in ("rspnet", "pace", "prp", "ascnet"):  # cores = samples/s the GPU would take x CPU s per sample
            expected = report["gpu_samples_per_s"][m]["0.2"] * costs[m] / 1e3
            assert report["cores_per_gpu"][what][m]["0.2"] == pytest.approx(expected, rel=0.05, abs=0.1)
    offered = [name for name, p in report["profiles"].items() if p["offered"]]
    assert offered == list(PROFILES) and offered[0] == report["default_profile"] == DEFAULT_PROFILE
    ms, speedup = report["decode_ms_per_sample"], report["speedup_over_reference"]
    assert list(ms)[0] == "reference" and speedup["reference"]["pace"] == 1.0
    for name in offered:
        assert f"{name}, all levers" in ms
        profile = report["profiles"][name]
        assert profile["bytes_per_video"] > 0 and profile["transcode_cpu_s_per_video"] > 0
        assert profile["luma_psnr_db"] > 25 and profile["kinetics400"]["disk_gb"] > 0
        shares = report["lever_shares"][name]
        assert list(shares)[0] == "per-read overheads" and list(shares)[-1] == "yuv420p out"
        for m in ("rspnet", "pace", "prp", "ascnet"):
            assert sum(step[m] for step in shares.values()) == pytest.approx(1.0, abs=0.01)
    for lever in ("per-read overheads alone", "yuv420p out alone", "skip alone (intra files)"):
        assert lever in ms
    assert report["configurations"]["reference"] == {"profile": "gop16", "pixels": "rgb24", "gather": True,
                                                     "lean_open": False, "skip_intra": False}
    default = f"{DEFAULT_PROFILE}, all levers"
    for m, target in report["targets"].items():
        assert target["speedup"] == speedup[default][m] and target["met"] == (target["speedup"] >= target["target"])

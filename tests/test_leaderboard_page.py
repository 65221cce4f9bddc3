"""The leaderboard page in a real browser: headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs when it can) loads ``index.html`` from disk, runs its script without console
errors and shows the rows; the URL's filters narrow them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from vssl_bench.bench.leaderboard import write_leaderboard
from vssl_bench.bench.records import write_record

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium: apt-get install chromium")


def render(page: Path, query: str = "", tmp: Path | None = None) -> tuple[str, str]:
    """(DOM after the page's script ran, browser log with console messages)."""
    proc = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         f"--user-data-dir={tmp or page.parent / '.chromium'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri() + query],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture
def page(tmp_path) -> Path:
    write_record(tmp_path / "runs" / "c" / "finetune-synthetic.json", {
        "status": "ok", "stage": "finetune-synthetic", "split": 1, "cell": "pace-r3d10-ucf101-quick",
        "dataset": "synthetic", "method": "pace", "backbone": "r3d10", "pretrain_data": "synthetic",
        "scale": "quick", "metrics": {"top1": 42.5}})
    return write_leaderboard(tmp_path)["html"]


def test_page_loads_without_console_errors_and_shows_every_row(page, tmp_path):
    rows = len(pd.read_csv(page.with_name("leaderboard.csv")))
    dom, log = render(page, tmp=tmp_path / "profile")
    assert console_errors(log) == []
    body = dom.split('<tbody id="rows">', 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == rows > 1
    assert f"{rows} of {rows} rows" in dom
    assert "RSPNet (S3D-G, K400)" in body and "Pace (R3D-10, Synthetic)" in body and "42.5" in body


def test_url_filters_narrow_the_rows(page, tmp_path):
    dom, log = render(page, "?source=reproduced", tmp=tmp_path / "profile")
    assert console_errors(log) == []
    assert re.search(r"1 of \d+ rows", dom)
    assert re.search(r'class="reproduced( has-panel)?"', dom) and 'class="reported"' not in dom


def test_a_script_error_would_be_seen(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><html><body><script>undefinedFunction();</script></body></html>")
    _, log = render(broken, tmp=tmp_path / "profile")
    assert console_errors(log), "the console check must catch an uncaught error"


@pytest.fixture
def paper_page(tmp_path) -> Path:
    """A reproduced paper-scale RSPNet C3D (UCF101 70.0 against the paper's 76.7) and a quick row."""
    base = {"status": "ok", "method": "rspnet", "backbone": "c3d", "pretrain_data": "kinetics400", "scale": "paper",
            "cell": "rspnet-c3d-k400-paper", "recipe": "experiments/rspnet/c3d_k400.yaml"}
    write_record(tmp_path / "runs" / "a" / "ft.json", {**base, "stage": "finetune-ucf101", "split": 1,
                                                        "dataset": "ucf101", "metrics": {"top1": 70.0}})
    write_record(tmp_path / "runs" / "a" / "rt.json", {**base, "stage": "retrieval-ucf101", "dataset": "ucf101",
                                                        "metrics": {"R@1": 40.1, "R@5": 60.0, "probe_top1": 55.0}})
    write_record(tmp_path / "runs" / "b" / "ft.json", {
        "status": "ok", "stage": "finetune-synthetic", "split": 1, "cell": "pace-r3d10-ucf101-quick",
        "dataset": "synthetic", "method": "pace", "backbone": "r3d10", "pretrain_data": "synthetic",
        "scale": "quick", "metrics": {"top1": 42.5}})
    return write_leaderboard(tmp_path)["html"]


def paper_rows(dom: str, title_start: str) -> list[str]:
    section = dom.split(f"<h3>{title_start}", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr[^>]*data-scale[^>]*>.*?</tr>", section, flags=re.S)


def test_paper_style_tables_have_one_row_per_model_and_the_right_deltas(paper_page, tmp_path):
    dom, log = render(paper_page, tmp=tmp_path / "profile")
    assert console_errors(log) == []
    rows = paper_rows(dom, "Action recognition (fine-tuned), paper scale")
    models = [re.search(r"<td>(.*?)</td>", r).group(1) for r in rows]
    assert len(models) == len(set(models)) and "RSPNet (C3D, K400)" in models
    head = dom.split("<h3>Action recognition (fine-tuned), paper scale", 1)[1].split("</thead>", 1)[0]
    assert "UCF101 Top-1 Accuracy" in head and "HMDB51 Top-1 Accuracy" in head and "<th>Δ</th>" in head
    mine = next(r for r in rows if "RSPNet (C3D, K400)" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", mine)
    assert cells[1:4] == ["76.7", "70", "-6.7"]  # UCF101 top-1: paper, ours, delta
    assert 'class="delta large neg"' in mine
    retrieval = paper_rows(dom, "Video retrieval (nearest neighbour), paper scale")
    assert any("RSPNet (C3D, K400)" in r and "40.1" in r and "+4.1" in r for r in retrieval)  # 40.1 - 36.0


def test_paper_table_filters_hide_other_scales_and_papers(paper_page, tmp_path):
    dom, log = render(paper_page, "?scale=quick", tmp=tmp_path / "profile")
    assert console_errors(log) == []
    rows = re.findall(r"<tr[^>]*data-scale=\"(\w+)\"[^>]*>", dom)
    hidden = re.findall(r"<tr[^>]*data-scale=\"(\w+)\"[^>]*hidden[^>]*>|<tr[^>]*hidden[^>]*data-scale=\"(\w+)\"", dom)
    assert rows and len(hidden) == rows.count("paper") > 0  # every paper-scale row hidden, the quick one shown
    dom, _ = render(paper_page, "?method=prp", tmp=tmp_path / "profile2")
    shown = re.findall(r"<tr(?![^>]*hidden)[^>]*data-scale[^>]*>\s*<td>(.*?)</td>", dom)
    assert shown and all(name.startswith("PRP") for name in shown)


def test_scatter_plot_renders_a_point_per_compared_metric(paper_page, tmp_path):
    dom, log = render(paper_page, tmp=tmp_path / "profile")
    assert console_errors(log) == []
    svg = dom.split('<svg', 1)[1].split("</svg>", 1)[0]
    assert 'id="scatter"' in svg and 'class="diagonal"' in svg
    assert svg.count('class="point"') == 3  # UCF101 top-1, R@1 and R@5 have a paper number


def test_a_reproduced_row_opens_its_record_with_the_rerun_command_and_curves(paper_page, tmp_path):
    log = tmp_path / "work" / "rspnet-c3d-k400-paper" / "finetune-ucf101" / "logs" / "version_0" / "metrics.csv"
    log.parent.mkdir(parents=True)
    log.write_text("epoch,step,train/top1\n0,0,0.1\n0,1,0.2\n1,2,0.4\n2,3,0.5\n")
    page = write_leaderboard(tmp_path)["html"]  # again, now with the logs
    dom, console = render(page, "?source=reproduced&q=RSPNet%20(C3D&open=1", tmp=tmp_path / "profile")
    assert console_errors(console) == []
    panel = dom.split('<tr class="panel">', 1)[1].split("</tr>", 1)[0]
    assert "vssl-bench evaluate --config experiments/rspnet/c3d_k400.yaml --scale paper --data-root DATA" in panel
    assert "runs/rspnet-c3d-k400-paper/" in panel and "fine-tuning train top-1 (3 epochs" in panel
    assert panel.count('class="curve-plot"') == 1 and "<polyline" in panel

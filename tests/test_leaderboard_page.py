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
    assert 'class="reproduced"' in dom and 'class="reported"' not in dom


def test_a_script_error_would_be_seen(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><html><body><script>undefinedFunction();</script></body></html>")
    _, log = render(broken, tmp=tmp_path / "profile")
    assert console_errors(log), "the console check must catch an uncaught error"

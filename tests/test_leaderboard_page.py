"""The leaderboard page in a real browser: headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs when it can) loads ``index.html`` from disk, runs its script without console
errors; each test checks one defect a reader met (issue 26), on the records of
``test_leaderboard_fixtures``. Layout is measured by a script appended to a copy of the page, which
runs after the page's own and writes what it saw into the DOM."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from test_leaderboard_fixtures import write_records

from vssl_bench.records import write_record
from vssl_bench.report.leaderboard import write_leaderboard

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium: apt-get install chromium")


def render(page: Path, query: str = "", tmp: Path | None = None, width: int = 1400) -> tuple[str, str]:
    """(DOM after the page's script ran, browser log with console messages)."""
    proc = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         f"--user-data-dir={tmp or page.parent / '.chromium'}", "--enable-logging=stderr", "--v=0",
         f"--window-size={width},1000", "--dump-dom", page.as_uri() + query],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


MEASURE = """<script>(() => {
  const box = el => el ? el.getBoundingClientRect() : null;
  const panel = document.querySelector('tr.panel');
  const opened = panel ? panel.previousElementSibling : null;
  const out = {width: innerWidth, height: innerHeight, scrollWidth: document.documentElement.scrollWidth,
    scrollY: scrollY, openedTop: opened ? box(opened).top : null,
    cut: [...document.querySelectorAll('.scroll')].filter(d => d.offsetParent && d.scrollWidth > d.clientWidth + 1)
      .map(d => d.closest('section').id || d.querySelector('table').id),
    headerRows: [...document.querySelectorAll('table.paper thead, #long thead')].map(t => t.rows.length)};
  const long = document.getElementById('long');  // scrolled into the every-row table, its header stays on top
  scrollTo(0, long.getBoundingClientRect().top + scrollY + 600);
  out.longHeaderTop = box(long.querySelector('th')).top;
  document.body.insertAdjacentHTML('beforeend', '<pre id="measure">' + JSON.stringify(out) + '</pre>');
})();</script></body></html>"""


def measure(page: Path, query: str, tmp: Path, width: int) -> tuple[dict, str, str]:
    copy = page.with_name("measured.html")
    copy.write_text(page.read_text().replace("</body></html>", MEASURE))
    dom, log = render(copy, query, tmp, width)
    return json.loads(re.findall(r'<pre id="measure">(\{.*?)</pre>', dom)[-1]), dom, log


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    write_records(root)
    return write_leaderboard(root)["html"]


def section(dom: str, anchor: str) -> str:
    return dom.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]


def rows(html_part: str) -> list[str]:
    return re.findall(r"<tr [^>]*data-scale[^>]*>.*?</tr>", html_part, flags=re.S)


def visible(html_part: str) -> list[str]:
    return [r for r in rows(html_part) if not re.match(r"<tr [^>]*\bhidden\b", r)]


def opened_panel(dom: str) -> str:
    return dom.split('<tr class="panel">', 1)[1].split("</div></td></tr>", 1)[0]


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", " ", c).split() and " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


def test_page_loads_without_console_errors_and_shows_every_row(site, tmp_path):
    n = len(pd.read_csv(site.with_name("leaderboard.csv")))
    dom, log = render(site, tmp=tmp_path / "profile")
    assert console_errors(log) == []
    body = dom.split('<tbody id="rows">', 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == n > 1 and f"{n} of {n} rows" in dom
    assert "RSPNet (S3D-G, K400)" in body and "Pace (R3D-10, Synthetic)" in body


def test_a_script_error_would_be_seen(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><html><body><script>undefinedFunction();</script></body></html>")
    _, log = render(broken, tmp=tmp_path / "profile")
    assert console_errors(log), "the console check must catch an uncaught error"


def test_1_paper_numbers_show_source_setup_and_not_run_commands_and_open_their_provenance(site, tmp_path):
    dom, log = render(site, tmp=tmp_path / "profile")
    assert console_errors(log) == []
    ft = section(dom, "paper-full-finetune-ucf101")
    prp = next(r for r in rows(ft) if 'class="reported' in r and "PRP (C3D, UCF101)" in r)
    assert cells(prp)[:6] == ["PRP", "C3D", "UCF101", "16×112²", "300 (code)", "PRP README"]
    assert '<a href="https://github.com/yuanyao366/PRP">PRP README</a>' in prp
    notrun = next(r for r in rows(ft) if 'class="notrun' in r and "PRP (C3D, UCF101)" in r)
    assert "ours: not run: <code>vssl-bench evaluate --config experiments/prp/c3d_ucf101.yaml --scale paper " \
           "--data-root DATA</code>" in notrun
    retrieval = section(dom, "paper-nn-retrieval-ucf101")
    pace = next(r for r in rows(retrieval) if 'class="reported' in r and "Pace (C3D, UCF101)" in r)
    assert "pretraining data presumed" in pace and ">RSPNet supp</a>" in pace
    papers = dom.split('<p class="papers">', 1)[1].split("</p>", 1)[0]
    assert '<a href="https://arxiv.org/abs/2011.07949">RSPNet: Relative Speed Perception' in papers
    quick = section(dom, "quick-nn-retrieval-synthetic")
    assert "extrapolated: no paper recipe for this cell" in next(r for r in rows(quick) if "RSPNet (R3D-10" in r)
    # a reported row opens its provenance: paper, sources, setup and the command that reproduces it
    dom, _ = render(site, "?method=ascnet&open=1", tmp=tmp_path / "profile2")
    panel = opened_panel(dom)
    assert "ASCNet: Self-supervised Video Representation Learning" in panel and ">ASCNet paper</a>" in panel
    assert "16x112 (frames × crop side)" in panel and "not verified epochs" in panel
    assert "vssl-bench evaluate --config experiments/ascnet/r3d18_k400.yaml --scale paper --data-root DATA" in panel


def test_2_the_headline_number_shows_both_readings_beside_our_split_1_and_3_fold(site, tmp_path):
    dom, _ = render(site, tmp=tmp_path / "profile")
    ft = section(dom, "paper-full-finetune-ucf101")
    head = re.findall(r"<th[^>]*>(.*?)</th>", ft.split("</thead>", 1)[0])
    assert head[-2:] == ["Top-1", "3-fold"]
    name = "RSPNet (S3D-G, K400, 1000 epochs)"
    paper = next(r for r in rows(ft) if 'class="reported' in r and name in r)
    assert cells(paper)[-2:] == ["93.7", "93.7"] and "two readings" in paper
    assert "Papers-With-Code files 93.7 as 3-fold accuracy" in ft  # the footnote says which is which
    ours = next(r for r in rows(ft) if 'class="ours' in r and name in r)
    assert cells(ours)[-2:] == ["90.0 -3.7", "91.0 -2.7"]  # split 1 and the 3-split mean, side by side
    exported = json.loads(site.with_name("leaderboard.json").read_text())
    ucf = next(d for t in exported if t["task"] == "Self-Supervised Action Recognition"
               for d in t["datasets"] if d["dataset"] == "UCF101")
    (row,) = [r for r in ucf["sota"]["rows"] if r["model_name"] == name]
    assert row["metrics"] == {"3-fold Accuracy": "93.7"}  # Papers-With-Code's reading only


def test_3_one_filter_state_for_every_section_and_open_scrolls_to_the_first_match(site, tmp_path):
    seen, dom, log = measure(site, "?scale=quick&method=pace&open=1", tmp_path / "profile", 1400)
    assert console_errors(log) == []
    shown = [r for part in re.findall(r'<section class="ptable"(?![^>]*hidden).*?</section>', dom, flags=re.S)
             for r in visible(part)]
    assert shown and all('data-scale="quick"' in r and 'data-method="pace"' in r for r in shown)
    assert re.search(r'<section class="scale-group" data-scale="paper" hidden', dom)  # emptied: hidden
    assert re.search(r'<section id="scatter-section" hidden', dom)  # no quick point has a paper number
    body = dom.split('<tbody id="rows">', 1)[1].split("</tbody>", 1)[0]
    long = re.findall(r"<tr [^>]*>", body)
    long = [r for r in long if 'class="panel"' not in r]
    assert long and all('data-method="pace"' in r and 'data-scale="quick"' in r for r in long)
    assert re.search(rf"{len(long)} of \d+ rows", dom)
    panel = opened_panel(dom)
    assert "pace-r3d10-ucf101-quick" in panel  # the record of the first Pace row, not of random init
    assert seen["scrollY"] > 0 and -1 <= seen["openedTop"] < seen["height"] / 2  # scrolled into view
    dom, _ = render(site, "?scale=paper&source=reproduced", tmp=tmp_path / "profile3")
    notes = re.findall(r'<p class="footnote"[^>]*>', dom)
    assert notes and all("hidden" in n for n in notes)  # a footnote goes with its row
    dom, _ = render(site, "?method=ascnet", tmp=tmp_path / "profile2")
    assert re.search(r'<section class="scale-group" data-scale="quick" hidden', dom)
    assert re.search(r'<section class="ptable" id="paper-nn-retrieval-ucf101"[^>]*hidden', dom)
    assert not re.search(r'<section class="ptable" id="paper-full-finetune-ucf101"[^>]*hidden', dom)


@pytest.mark.parametrize("width", [1400, 900])
def test_4_no_table_is_cut_and_headers_do_not_stack(site, tmp_path, width):
    seen, _, log = measure(site, "", tmp_path / "profile", width)
    assert console_errors(log) == []
    assert seen["cut"] == [] and seen["scrollWidth"] <= seen["width"]
    assert set(seen["headerRows"]) == {1}  # one header row per table: nothing sticks over another
    assert seen["longHeaderTop"] == 0  # the every-row table's header sticks to the top of the window


def test_5_quick_tables_state_seeds_chance_budget_and_delta_against_random_init(site, tmp_path):
    dom, _ = render(site, tmp=tmp_path / "profile")
    group = dom.split('data-scale="quick"><h2>', 1)[1]
    assert "pretraining PRP 4 epochs" in group and "fine-tuning on seed 0" in group and "seeds 0, 1, 2" in group
    assert "exceeds the larger of the two standard deviations" in group
    probe = section(dom, "quick-frozen-feature-logistic-probe-synthetic")
    assert "chance: Top-1 25.0 (4 classes)" in probe and "random init of the same backbone" in probe
    by_model = {re.search(r'title="([^"]+)"', r).group(1): cells(r) for r in rows(probe)}
    assert by_model["Random init (R3D-10, none)"][5:] == ["ours, 3 seeds", "29.2 ± 1.1"]
    assert by_model["PRP (R3D-10, Synthetic)"][6] == "41.7 ± 1.1 +12.5"  # 41.7 - 29.2, beyond the spread
    ft = section(dom, "quick-full-finetune-synthetic")
    assert all("1 seed" in r for r in rows(ft))  # one seed said, not hidden
    retrieval = section(dom, "quick-nn-retrieval-synthetic")
    head = retrieval.split("</thead>", 1)[0]
    assert ">R@10<" in head and ">R@20<" not in head and "R@20 left out: saturated" in retrieval  # 4 classes
    pretext = section(dom, "quick-pretext")  # per seed, beside chance
    assert "28.0, 29.0, 30.0" in pretext and "25.0 (above chance on every seed)" in pretext
    assert "playback rate" in pretext and "pace (1 of 4)" in pretext
    filtered, _ = render(site, "?scale=quick&method=prp", tmp=tmp_path / "filtered")
    tag = filtered.split('id="quick-pretext"', 1)[1].split(">", 1)[0]
    assert "hidden" not in tag  # the filters keep it, with the chosen method's row only
    assert re.search(r'<tr[^>]*data-method="pace"[^>]*hidden', section(filtered, "quick-pretext"))


def test_6_record_panels_draw_every_seed_with_axes_and_chance_and_say_what_they_are(site, tmp_path):
    dom, _ = render(site, "?scale=quick&method=pace&q=logistic&open=1", tmp=tmp_path / "profile")
    panel = opened_panel(dom)
    loss = panel.split("<b>pretext loss</b>", 1)[1].split("</svg>", 1)[0]
    assert loss.count('class="seed-line"') == 3  # one line per seed, not seed 0's alone
    assert 'class="chance"' in loss and "chance 1.39" in loss  # ln 4
    assert "loss (nats)" in loss and ">epoch<" in loss and loss.count('class="ytick"') == 5
    assert re.search(r'class="ytick"[^>]*>(</line>)?<text[^>]*>0</text>', loss)  # the axis starts at 0
    assert "<th>pretraining</th><th>this stage</th>" in panel and "41.5 s" in panel and "0.8 s" in panel
    assert "results/runs/pace-r3d10-ucf101-quick-seed2/retrieval-synthetic.json" in panel
    assert "is not committed" in panel
    assert "torch 2.14.1" in panel and "{" not in re.sub(r"<[^>]+>", "", panel)  # no raw JSON
    assert "for s in 0 1 2; do vssl-bench evaluate" in panel
    dom, _ = render(site, "?scale=quick&method=scratch&q=logistic&open=1", tmp=tmp_path / "profile2")
    panel = opened_panel(dom)
    assert "none: random initialisation, no pretraining" in panel


def test_7_delta_has_a_sign_a_legend_and_a_colour_by_significance_and_the_scatter_has_ticks(site, tmp_path):
    dom, _ = render(site, tmp=tmp_path / "profile")
    legend = dom.split('<p class="legend">', 1)[1].split("</p>", 1)[0]
    for judgement in ("up", "down", "within", "unknown"):
        assert f'class="delta {judgement}"' in legend
    probe = section(dom, "quick-frozen-feature-logistic-probe-synthetic")
    assert '<span class="delta up">+12.5</span>' in probe  # PRP: beyond the larger seed spread
    ft = section(dom, "paper-full-finetune-ucf101")
    assert '<span class="delta unknown">-6.7</span>' in ft  # one seed: the sign, but no verdict
    svg = dom.split('<svg', 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="tick"') == 12 and "reported by the paper (%)" in svg
    assert svg.count('class="legend-entry"') == 4 and ">RSPNet</text>" in svg
    assert svg.count('class="point"') == 5  # UCF101 top-1, R@1, R@5; the 1000-epoch row against both readings


def test_9_numbers_keep_one_decimal_and_rk_sort_by_k(site, tmp_path):
    dom, _ = render(site, tmp=tmp_path / "profile")
    hmdb = section(dom, "paper-full-finetune-hmdb51")
    assert ">35.0</td>" in hmdb and ">35</td>" not in hmdb
    head = section(dom, "paper-nn-retrieval-ucf101").split("</thead>", 1)[0]
    assert re.findall(r">(R@\d+)<", head) == ["R@1", "R@5", "R@10", "R@20", "R@50"]
    assert "pretrain_data" not in dom.split("<script>", 1)[0]
    backbones = [cells(r)[1] for r in rows(section(dom, "paper-full-finetune-ucf101"))]
    order = ["C3D", "R3D-10", "R(2+1)D-10", "3D-ResNet-18", "S3D-G"]
    assert [order.index(b) for b in backbones] == sorted(order.index(b) for b in backbones)


def test_a_reproduced_row_without_logs_says_where_they_would_be(tmp_path):
    write_record(tmp_path / "runs" / "c" / "finetune-synthetic.json", {
        "status": "ok", "stage": "finetune-synthetic", "split": 1, "cell": "pace-r3d10-ucf101-quick",
        "dataset": "synthetic", "method": "pace", "backbone": "r3d10", "pretrain_data": "synthetic",
        "scale": "quick", "metrics": {"top1": 42.5}})
    page = write_leaderboard(tmp_path)["html"]
    dom, log = render(page, "?scale=quick&open=1", tmp=tmp_path / "profile")
    assert console_errors(log) == []
    assert "no training logs here" in dom.split('<tr class="panel">', 1)[1]

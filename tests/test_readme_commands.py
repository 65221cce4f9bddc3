"""Every command the README shows is accepted exactly as written: `vssl-bench ...` lines are parsed by
the CLI's own parser (option names, types, choices), `make ...` lines resolve to existing targets
whose commands parse too, and the benchmark scripts exist. Running them is the job of the other
tests (the real-layout end-to-end test runs `make reproduce-*`; `make run` is the quick scale)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from vssl_bench.cli import components, parser, prepare_args

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(("vssl-bench ", "make ", ".venv/bin/python ")):
                lines.append(line)
    return lines


COMMANDS = readme_commands()


def parse(command: str) -> None:
    args = shlex.split(command)[1:]
    parser().parse_args(prepare_args(args, components()))


def test_the_readme_shows_commands():
    assert sum(c.startswith("vssl-bench") for c in COMMANDS) >= 10
    assert any(c.startswith("make reproduce-") for c in COMMANDS)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("vssl-bench ")])
def test_vssl_bench_command_parses(command):
    parse(command)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_make_command_resolves_and_its_cli_call_parses(command):
    done = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), *shlex.split(command)[1:]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        if "/vssl-bench " in line:
            parse("vssl-bench " + line.split("/vssl-bench ", 1)[1])


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(".venv/bin/python ")])
def test_benchmark_script_exists(command):
    assert (REPO / shlex.split(command)[1]).is_file()


def test_a_misspelt_option_is_refused():
    with pytest.raises(SystemExit):
        parse("vssl-bench run --grid all --dry-runn")

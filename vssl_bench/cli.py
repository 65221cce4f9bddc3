"""The ``vssl-bench`` command. No logic of its own: it maps sub-commands to functions."""

from __future__ import annotations

import logging
import sys

from vssl_bench.errors import VsslBenchError


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import auto_cli

    from vssl_bench.bench import commands
    from vssl_bench.data import commands as data_commands

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    components = {
        "run": commands.run,
        "pretrain": commands.pretrain,
        "evaluate": commands.evaluate,
        "leaderboard": commands.leaderboard,
        "data": {"synth": data_commands.synth},
    }
    try:
        result = auto_cli(components, args=args, as_positional=False)
    except VsslBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if isinstance(result, str):
        print(result)


if __name__ == "__main__":
    main()

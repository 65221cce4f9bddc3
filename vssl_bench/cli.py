"""The ``vssl-bench`` command. No logic of its own: it maps sub-commands to functions and classes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import auto_cli

    from vssl_bench.data import commands as data_commands

    args = sys.argv[1:] if argv is None else argv
    components = {
        "data": {"synth": data_commands.synth},
    }
    result = auto_cli(components, args=args, as_positional=False)
    if isinstance(result, str):
        print(result)


if __name__ == "__main__":
    main()

"""The ``vssl-bench`` command: sub-commands are the functions in ``bench/commands.py`` and
``data/commands.py``, parsed by jsonargparse from their signatures.

What is here besides that table rewrites the command line as people type it into what jsonargparse
reads: ``--config RECIPE`` (jsonargparse keeps ``--config`` for its own files) becomes ``--recipe``;
``data transcode SRC DST`` takes positionals; ``--data-root`` is ``--data_root``; a boolean option
given alone means true. Errors a user can cause print one line and exit 2.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import typing

from vssl_bench.errors import VsslBenchError

# `pretrain` and `evaluate` take a paper recipe, named by `--config RECIPE` as the README shows.
# jsonargparse reserves --config for its own argument files (and drops a
# parameter of that name), so the option is renamed before parsing.
RECIPE_COMMANDS = ("pretrain", "evaluate", "finetune", "retrieve")


def _recipe_option(arg: str) -> str:
    if arg == "--config":
        return "--recipe"
    if arg.startswith("--config="):
        return "--recipe=" + arg.split("=", 1)[1]
    return arg


def _named_positionals(args: list[str], names: tuple[str, ...]) -> list[str]:
    """``transcode SRC DST`` reads as ``transcode --src SRC --dst DST`` (options stay as they are)."""
    out, names_left, i = [], list(names), 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            out.append(arg)
            if "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("--"):
                out.append(args[i + 1])
                i += 1
        elif names_left:
            out += [names_left.pop(0), arg]
        else:
            out.append(arg)
        i += 1
    return out


def _bool_options(fn) -> set[str]:
    """Option names (``dry_run``, ``trainer.progress_bar``) of ``fn``'s boolean parameters."""
    names: set[str] = set()
    for name, hint in typing.get_type_hints(fn).items():
        if hint is bool:
            names.add(name)
        elif dataclasses.is_dataclass(hint):
            names |= {f"{name}.{sub}" for sub, h in typing.get_type_hints(hint).items() if h is bool}
    return names


def normalise_options(args: list[str], fn=None) -> list[str]:
    """Options as people type them: ``--data-root`` is ``--data_root``, and a boolean option given
    without a value (``--dry-run``) means true."""
    booleans = _bool_options(fn) if fn is not None else set()
    out: list[str] = []
    for i, arg in enumerate(args):
        if not arg.startswith("--") or arg == "--":
            out.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        out.append(f"--{name}{eq}{value}")
        if name in booleans and not eq and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("true")
    return out


def components() -> dict:
    from vssl_bench.bench import commands
    from vssl_bench.data import commands as data_commands

    return {
        "run": commands.run,
        "pretrain": commands.pretrain,
        "evaluate": commands.evaluate,
        "finetune": commands.finetune,
        "retrieve": commands.retrieve,
        "leaderboard": commands.leaderboard,
        "export": commands.export,
        "data": {"synth": data_commands.synth, "transcode": data_commands.transcode, "check": data_commands.check,
                 "index": data_commands.index},
    }


def prepare_args(args: list[str], table: dict) -> list[str]:
    """The command line as typed -> the one jsonargparse reads (see the helpers above)."""
    args = list(args)
    if args and args[0] in RECIPE_COMMANDS:
        args = [_recipe_option(a) for a in args]
    if args[:2] == ["data", "transcode"]:
        args = args[:2] + _named_positionals(args[2:], ("--src", "--dst"))
    depth = 2 if args[:1] == ["data"] else 1
    target = table.get(args[0]) if args else None
    if isinstance(target, dict):
        target = target.get(args[1]) if len(args) > 1 else None
    return args[:depth] + normalise_options(args[depth:], target if callable(target) else None)


def parser():
    """The parser ``main`` uses (for checking command lines without running them)."""
    from jsonargparse import auto_parser

    return auto_parser(components(), as_positional=False)


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import auto_cli

    from vssl_bench.bench.ranks import follow_launcher

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    follow_launcher()  # a rank Lightning started ends with the process that started it
    table = components()
    args = prepare_args(sys.argv[1:] if argv is None else argv, table)
    try:
        result = auto_cli(table, args=args, as_positional=False)
    except VsslBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if isinstance(result, str):
        print(result)


if __name__ == "__main__":
    main()

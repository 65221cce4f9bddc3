"""What each rank of a multi-process run does beyond training: who writes the shared files, and how a
failure on one rank stops them all.

Under DDP every rank runs the whole command (Lightning starts ranks 1.. as copies of the command
line; srun starts every rank alike). Records, tables and the summary are written by rank 0 alone;
a stage that fails on any rank ends the process with one line naming the rank, the stage and the
cause, and the launcher (Lightning's, or srun's ``--kill-on-bad-exit``) stops the other ranks at once
instead of leaving them in a collective until its timeout. The checkpoint of the last finished epoch
stays, so a rerun of the same command resumes there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pytorch_lightning.utilities import rank_zero_only

from vssl_bench.errors import RankFailedError, VsslBenchError

# What a rank sees when another rank died under it (gloo, NCCL, the TCP store)
PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "ProcessGroupGloo", "ProcessGroupNCCL", "recvBytes", "Socket Timeout")


def rank() -> int:
    return int(rank_zero_only.rank)


def is_main() -> bool:
    """The rank that writes the records, tables and summaries of a run."""
    return rank() == 0


def stage_failed(where: str, exc: BaseException, world: int) -> RankFailedError:
    """The one error of a rank whose stage failed under DDP."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:400]
    if any(marker in str(exc) for marker in PEER_LOST):
        return RankFailedError(f"rank {rank()} of {world}: lost contact with another rank during {where} (that "
                               f"rank's own error says why). Every rank stops; rerun the same command "
                               "to resume from the last finished epoch.")
    return RankFailedError(f"rank {rank()} of {world} failed during {where}: {text}. Every rank stops; rerun the same "
                           "command to resume from the last finished epoch.")


@contextmanager
def failing_together(where: str, world: int) -> Iterator[None]:
    """Under DDP (``world`` > 1), an error of this rank's stage becomes :func:`stage_failed`'s one-line
    error, which ends the process (and so, through the launcher, every rank); on one process errors
    pass as they are. Errors a user can cause are left as they are: they already say what to do."""
    try:
        yield
    except (VsslBenchError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if world > 1:
            raise stage_failed(where, exc, world) from None
        raise


def follow_launcher() -> None:
    """A rank that Lightning started (``LOCAL_RANK`` > 0) ends when the rank-0 process that started it
    ends, rather than waiting in a collective for ranks that are gone (Linux; elsewhere a no-op)."""
    if os.environ.get("LOCAL_RANK", "0") in ("", "0") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)

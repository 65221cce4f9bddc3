"""Errors a user can cause. Each message names the file or value at fault and says what to do."""

from __future__ import annotations


class VsslBenchError(Exception):
    """Base class of every error this package raises on purpose."""


class DatasetNotFoundError(VsslBenchError, FileNotFoundError):
    """A dataset root, annotation folder or split file is not where it was looked for."""


class SplitFileError(VsslBenchError, ValueError):
    """A split or annotation file exists but cannot be parsed."""


class MissingVideosError(VsslBenchError, FileNotFoundError):
    """Videos listed in a split file are absent from the dataset root."""


class VideoDecodeError(VsslBenchError, RuntimeError):
    """A video cannot be opened or decoded (corrupt, truncated, empty, no video stream)."""


class ConfigError(VsslBenchError, ValueError):
    """A configuration value is out of range or inconsistent with another."""


class CheckpointMismatchError(VsslBenchError, RuntimeError):
    """A checkpoint does not fit the backbone it is loaded into."""


class UnsafeCheckpointError(VsslBenchError, RuntimeError):
    """A checkpoint file asks to run code (a pickled object outside the plain types weights need)."""


class ResultsUnwritableError(VsslBenchError, OSError):
    """A record, table or checkpoint cannot be written (full disk, read-only or unwritable folder).
    A sweep stops at the first one: every later stage would fail the same way."""


class RankFailedError(VsslBenchError, RuntimeError):
    """One rank of a multi-process run failed; every rank stops and the run resumes on a rerun."""

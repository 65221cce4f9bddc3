"""vssl-bench: a benchmark of playback-speed self-supervised video representation learning."""

__version__ = "0.1.0"

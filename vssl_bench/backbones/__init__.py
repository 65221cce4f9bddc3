"""Video backbones exactly as the four papers defined them, behind one registry."""

from vssl_bench.backbones import c3d, r2plus1d, r3d, s3dg  # noqa: F401  (registration)
from vssl_bench.backbones.base import Backbone, check_training_precision
from vssl_bench.backbones.registry import build_backbone, list_backbones

__all__ = ["Backbone", "build_backbone", "check_training_precision", "list_backbones"]

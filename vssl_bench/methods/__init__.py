"""The four pretext methods, by name."""

from vssl_bench.methods.ascnet import ASCNet
from vssl_bench.methods.base import PretextMethod
from vssl_bench.methods.pace import Pace
from vssl_bench.methods.prp import PRP
from vssl_bench.methods.rspnet import RSPNet

METHODS: dict[str, type[PretextMethod]] = {"rspnet": RSPNet, "pace": Pace, "prp": PRP, "ascnet": ASCNet}

__all__ = ["METHODS", "ASCNet", "PRP", "Pace", "PretextMethod", "RSPNet"]

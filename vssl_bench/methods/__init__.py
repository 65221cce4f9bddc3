"""The pretext methods, by name: a read-only view of the catalog (``vssl_bench.catalog``)."""

from collections.abc import Iterator, Mapping

from vssl_bench import catalog
from vssl_bench.methods.base import PretextMethod


class _Methods(Mapping[str, type[PretextMethod]]):
    """``METHODS[name]`` imports the method's class on first use; the names are the catalog's."""

    def __getitem__(self, name: str) -> type[PretextMethod]:
        if name not in catalog.METHODS:
            raise KeyError(name)
        return catalog.METHODS[name].load()

    def __iter__(self) -> Iterator[str]:
        return iter(list(catalog.METHODS))

    def __len__(self) -> int:
        return len(catalog.METHODS)


METHODS: Mapping[str, type[PretextMethod]] = _Methods()

__all__ = ["METHODS", "PretextMethod"]

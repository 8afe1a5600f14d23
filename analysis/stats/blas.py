"""Run small dense linear algebra on one BLAS thread.

The MMRM fit is thousands of products of small matrices (p ~ 20-40 fixed effects, T <= 15 visits). With
OpenBLAS's default of one thread per core, each product hands out work to threads that then fight for the
cores with everything else on the machine; on the project's shared 2-core VMs that made the 1,000 x 10 fit ten
times slower than on one thread (docs/PERFORMANCE.md, MMRM). ``one_blas_thread()`` sets the OpenBLAS libraries
that numpy and scipy ship (scipy-openblas wheels) to one thread for the duration of a block and restores the
previous setting. Where those libraries or their symbols are not found (another BLAS, another build) it does
nothing. The setting is process-wide: other threads computing at the same time also run on one BLAS thread.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

__all__ = ["on_one_blas_thread", "one_blas_thread"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_SYMBOLS = [
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
]
_lock = threading.Lock()
_depth = 0
_saved: list[int] = []


@functools.cache
def _controls() -> tuple[tuple[Callable[[], int], Callable[[int], None]], ...]:
    found = []
    try:
        import numpy
        import scipy  # type: ignore[import-untyped]

        dirs = {Path(m.__file__).resolve().parent.parent / f"{m.__name__}.libs" for m in (numpy, scipy) if m.__file__}
        for lib_dir in sorted(dirs):
            for path in sorted(lib_dir.glob("lib*openblas*.so*")):
                lib = ctypes.CDLL(str(path))
                for get_name, set_name in _SYMBOLS:
                    if hasattr(lib, get_name) and hasattr(lib, set_name):
                        get_fn, set_fn = getattr(lib, get_name), getattr(lib, set_name)
                        get_fn.restype = ctypes.c_int
                        set_fn.argtypes = [ctypes.c_int]
                        set_fn.restype = None
                        found.append((get_fn, set_fn))
                        break
    except (OSError, AttributeError, ImportError):
        return ()
    return tuple(found)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, numpy's and scipy's OpenBLAS use one thread (re-entrant; restored on exit)."""
    global _depth, _saved
    controls = _controls()
    with _lock:
        if _depth == 0:
            _saved = [int(get()) for get, _ in controls]
            for _, set_fn in controls:
                set_fn(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for (_, set_fn), n in zip(controls, _saved, strict=True):
                    set_fn(n)


def on_one_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``fn`` within :func:`one_blas_thread`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper

"""analysis.stats.blas: one BLAS thread inside the block, the previous setting restored after it."""

from __future__ import annotations

from analysis.stats import blas


def _threads() -> list[int]:
    return [int(get()) for get, _ in blas._controls()]


def test_one_thread_inside_and_restored_after_even_when_nested_or_raising() -> None:
    before = _threads()
    with blas.one_blas_thread():
        assert all(n == 1 for n in _threads())
        with blas.one_blas_thread():
            assert all(n == 1 for n in _threads())
        assert all(n == 1 for n in _threads())
    assert _threads() == before
    try:
        with blas.one_blas_thread():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _threads() == before


def test_decorator_keeps_name_and_result() -> None:
    @blas.on_one_blas_thread
    def f(x: int) -> list[int]:
        return [x, *_threads()]

    assert f.__name__ == "f"
    assert f(3)[0] == 3
    assert all(n == 1 for n in f(3)[1:])

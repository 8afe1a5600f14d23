"""The output side: counts and hashes every byte on its way out, and can patch a header by seeking when
a format needs a number it learns only at the end (then the hash is computed by reading the file back)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

READ_BLOCK = 1 << 20


def can_patch(out: BinaryIO) -> bool:
    try:
        return bool(out.seekable() and out.readable())
    except (AttributeError, ValueError, OSError):
        return False


class Sink:
    """A write-only file object over ``out`` (also what pyarrow writes to: ``tell`` counts bytes, so ``out``
    need not be seekable)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()
        self._patched = False
        self._start = out.tell() if can_patch(out) else 0
        self.written = 0

    # The file-object surface pyarrow and csv use.
    closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._out.write(data)
        self._digest.update(data)
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self._out.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        """The caller owns ``out``: closing the sink leaves it open."""

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite ``data`` at ``offset`` (from where this sink started) and come back to the end."""
        if not can_patch(self._out):
            raise ValueError("patching a header needs a seekable, readable file")
        end = self._out.tell()
        self._out.seek(self._start + offset)
        self._out.write(data)
        self._out.seek(end)
        self._patched = True

    def finish(self) -> tuple[str, int]:
        """The SHA-256 and size of what was written (as it now stands on disk)."""
        self._out.flush()
        if not self._patched:
            return self._digest.hexdigest(), self.written
        end = self._out.tell()
        self._out.seek(self._start)
        digest = hashlib.sha256()
        remaining = self.written
        while remaining:
            block = self._out.read(min(READ_BLOCK, remaining))
            if not block:
                raise OSError("the file is shorter than what was written to it")
            digest.update(block)
            remaining -= len(block)
        self._out.seek(end)
        return digest.hexdigest(), self.written

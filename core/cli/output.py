"""The CLI's output: streams that go quiet when their reader leaves (`train | head -1`, a closed terminal),
so the run goes on, and user text kept to one terminal line."""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import TextIO

# a write to a pipe whose reader left, or to a terminal that was closed (its session hung up)
READER_GONE = (errno.EPIPE, errno.EIO, errno.ENXIO)


class QuietWhenClosed:
    """A text stream whose writes stop, without an error, once the reader closed the pipe: a training's
    progress lines are for watching it, and a watcher that leaves does not fail the run."""

    def __init__(self, stream: TextIO):
        self.stream, self.reader_gone = stream, False

    def write(self, text: str) -> int:
        return self._quietly(self.stream.write, text) or len(text)

    def flush(self) -> None:
        self._quietly(self.stream.flush)

    def _quietly(self, call, *args):
        if self.reader_gone:
            return None
        try:
            return call(*args)
        except OSError as err:
            if err.errno not in READER_GONE:  # EPIPE: BrokenPipeError
                raise
            self.reader_gone = True
            # Python's recipe: the descriptor to devnull, so that the flush at exit does not raise either
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
            return None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)  # isatty, fileno, encoding...: the stream's own


@contextlib.contextmanager
def quiet_when_closed() -> Iterator[None]:
    """stdout and stderr as QuietWhenClosed while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = QuietWhenClosed(sys.stdout), QuietWhenClosed(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def one_line(text: str) -> str:
    """User text for a terminal line, as stored but with control characters as escapes: a name with a line
    break ('a\\nb' from --name) split the runs listing's line in two."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)

"""Atomic file writes: a reader sees the old file or the whole new one, never half.

The new content goes to a temporary file in the *same* directory (so that the
final rename stays on one file system) and is moved over the target with
:func:`os.replace`, which is atomic on POSIX and Windows. If the writer fails
or is interrupted, the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_path"]


def _default_mode() -> int:
    # mkstemp creates files readable by the owner only; a finished output file
    # should get the permissions an ordinary open() would have given it.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path to write to; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that look at the
    extension (``np.savez`` appends ``.npz`` otherwise, ``savefig`` picks the
    format from it) behave as they would on ``path`` itself.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(target) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("all or nothing")
    >>> open(target).read()
    'all or nothing'
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:  # on disk before the rename, not just in a cache
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise

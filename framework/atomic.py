"""Writing a whole directory so that readers see the old one or the complete new one, never a half.

`tempfile` creates its files and directories owner-only (0600/0700) whatever the umask; what is renamed into
place here is first given the permissions a plain `open()`/`mkdir()` would have given it (`apply_umask`), so a
checkpoint or an output file can be read by whoever the umask lets read the rest of the run."""
from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from framework.errors import NlpfError


def current_umask() -> int:
    """The process umask. Read from /proc on Linux; elsewhere set (to the strictest mask, so that a file another
    thread creates meanwhile is never more open than it should be) and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def file_mode(executable: bool = False) -> int:
    """The mode `open(path, "w")` gives a new file under the current umask (0o666 & ~umask)."""
    return (0o777 if executable else 0o666) & ~current_umask()


def apply_umask(root: Path) -> None:
    """Give `root` and everything below it the permissions a plain `mkdir()`/`open()` gives under the current
    umask: directories 0o777 & ~umask (keeping a setgid bit inherited from the parent), files 0o666 & ~umask
    (0o777 & ~umask for an executable one). Symbolic links are left alone and not followed."""
    mask = current_umask()

    def fix(path: str, directory: bool) -> None:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return
        if directory:
            mode = (stat.S_IMODE(st.st_mode) & stat.S_ISGID) | (0o777 & ~mask)
        elif stat.S_ISREG(st.st_mode):
            mode = (0o777 if st.st_mode & 0o111 else 0o666) & ~mask
        else:
            return
        if stat.S_IMODE(st.st_mode) != mode:
            os.chmod(path, mode)

    root = Path(root)
    fix(str(root), root.is_dir() and not root.is_symlink())
    if root.is_dir() and not root.is_symlink():
        for folder, dirs, files in os.walk(root):
            for name in dirs:
                fix(os.path.join(folder, name), True)
            for name in files:
                fix(os.path.join(folder, name), False)


def fsync_tree(root: Path) -> None:
    """fsync every file below `root`, then `root` itself."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; on success give it and its contents the permissions the
    umask asks for, fsync it and swap it into place (an existing `target` is moved aside first and removed
    after); on any error remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        apply_umask(tmp)
        fsync_tree(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Terminated(BaseException):
    """SIGTERM, raised as an exception so that the temporary files of `atomic_directory` and of the inference
    commands' output are removed as on Ctrl-C (the default action kills the process and leaves them behind).
    A BaseException, like KeyboardInterrupt, so that `except Exception` does not swallow it."""

    exit_code = 128 + signal.SIGTERM  # what a shell reports for a process killed by SIGTERM


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread. A further SIGTERM is ignored while the
    first unwinds (a second exception inside a cleanup would leave the temporary file). A handler someone else
    installed, or SIG_IGN (nohup-like launchers), is kept; off the main thread signals cannot be handled."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def raise_terminated(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def check_replaceable(directory: Path, ours: set[str], what: str) -> None:
    """Refuse to replace an existing directory that holds anything but files of the kind we write there."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise NlpfError(f"'{directory}' exists and is not a directory", hint=f"choose another path for {what}")
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in ours)
    if foreign:
        raise NlpfError(f"'{directory}' exists and holds files that are not part of {what} ({', '.join(foreign[:5])})",
                        hint=f"choose a new or empty directory; nlpf only replaces an earlier "
                        f"{what.removeprefix('an ').removeprefix('a ')}")

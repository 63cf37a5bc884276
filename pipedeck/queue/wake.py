"""Wake-ups for workers waiting on a SQLite queue.

SQLite has no blocking read, and huey's consumer polls with a backoff that
grows to seconds when idle: slow pickup, or CPU burnt polling fast. Instead
each listening worker process binds a Unix datagram socket in a directory
next to the queue file; whoever enqueues sends one byte to every socket
there. A waiting worker wakes at once; an idle one sleeps in select() and
polls the table only as a once-a-second backstop. Lost datagrams (a full
buffer, a worker that is busy) cost nothing: the worker reads the table
after every wake-up and after every task.

The last listener to close removes the sockets of listeners that died
without closing, and then the directory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import select
import socket
import tempfile
import uuid
from pathlib import Path

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS


def wake_dir_for(queue_file: Path) -> Path:
    path = Path(f"{queue_file}.wake")
    if len(str(path)) + 40 <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(Path(queue_file).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pipedeck-wake-{os.getuid()}-{digest}"


class WakeChannel:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._sender: socket.socket | None = None

    def notify(self) -> int:
        """Wake every listening worker. Returns how many were reached."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        reached = 0
        for name in names:
            if not name.endswith(".sock"):
                continue
            path = str(self.directory / name)
            try:
                self._sender.sendto(b"!", path)
                reached += 1
            except BlockingIOError:
                reached += 1  # its buffer is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                _unlink(path)  # a listener that died without cleaning up
            except OSError as exc:
                if exc.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    continue
        return reached

    def listen(self) -> "WakeListener":
        return WakeListener(self.directory)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _remove_if_unused(directory: Path) -> None:
    """Remove dead listeners' sockets, then the directory if no listener is left in it."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.setblocking(False)
        for name in names:
            if not name.endswith(".sock"):
                continue
            try:
                probe.sendto(b"", str(directory / name))  # an empty wake-up: harmless to a live listener
            except (ConnectionRefusedError, FileNotFoundError):
                _unlink(directory / name)
            except OSError:
                pass
    finally:
        probe.close()
    try:
        directory.rmdir()  # only when empty: a live listener's socket keeps it
    except OSError:
        pass


class WakeListener:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for _ in range(5):
            directory.mkdir(parents=True, exist_ok=True)
            try:
                self._sock.bind(str(self.path))
                break
            except FileNotFoundError:  # the last listener removed the directory just now
                continue
        else:
            self._sock.bind(str(self.path))
        self._sock.setblocking(False)
        self._interrupt_r, self._interrupt_w = os.pipe()
        os.set_blocking(self._interrupt_r, False)
        self.closed = False

    def wait(self, timeout: float) -> bool:
        """Sleep until a wake-up or ``timeout``; True when woken."""
        if self.closed:
            return False
        try:
            ready, _, _ = select.select([self._sock, self._interrupt_r], [], [], timeout)
        except (OSError, ValueError):
            return False
        if self._sock in ready:
            try:
                while True:
                    self._sock.recv(64)
            except (BlockingIOError, OSError):
                pass
            return True
        return False

    def interrupt(self) -> None:
        """Wake every thread waiting here for good (used at shutdown)."""
        try:
            os.write(self._interrupt_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.interrupt()
        _unlink(self.path)
        self._sock.close()
        _remove_if_unused(self.directory)

"""SFTP on the submit host, limited to the user's home (absolute paths name the real file system, as with
OpenSSH, but only inside the home). Used only when trainees cannot be confined (no bubblewrap, loopback
only: confine.py); then links are not followed out of the home either."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED


class HomeSFTPServer(SFTPServer):
    def finish_subsystem(self) -> None:
        # OpenSSH's scp (SFTP mode) counts a session without an exit status as failed, as sftp-server exits 0
        with contextlib.suppress(Exception):
            self.sock.send_exit_status(0)
        super().finish_subsystem()


class _Handle(SFTPHandle):
    filename = ""

    def stat(self):
        try:
            return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        try:
            self.readfile.flush()
            _set_attr(self.filename, attr, fd=self.readfile.fileno())
            return SFTP_OK
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)


def _set_attr(path: str, attr, fd: int | None = None) -> None:
    """paramiko's set_file_attr, except the size: it reopens with "w+" (emptying the file) to truncate."""
    if attr._flags & attr.FLAG_SIZE:
        if fd is not None:
            os.ftruncate(fd, attr.st_size)
        else:
            os.truncate(path, attr.st_size)
        attr._flags &= ~attr.FLAG_SIZE
    SFTPServer.set_file_attr(path, attr)


class HomeSFTP(SFTPServerInterface):
    """Real paths (absolute paths name the real file system, as with OpenSSH), limited to the user's home."""

    def __init__(self, server, *args, **kwargs):  # server: the session's ServerInterface (its host and user)
        super().__init__(server, *args, **kwargs)
        self.home = server.host.home(server.user).resolve()

    def _path(self, path: str) -> str:
        p = Path(path) if os.path.isabs(path) else self.home / path
        real = Path(os.path.normpath(p))
        # the parent must resolve inside the home (the last component may be a link, a missing file...)
        parent = real.parent.resolve()
        if real != self.home and not (parent == self.home or self.home in parent.parents):
            raise PermissionError(path)
        return str(real)

    def _followed(self, path: str) -> str:
        """For what follows a last-component link (stat): where it leads must be inside the home too."""
        p = self._path(path)
        target = Path(p).resolve()
        if target != self.home and self.home not in target.parents:
            raise PermissionError(path)
        return p

    @staticmethod
    def _err(e: Exception) -> int:
        if isinstance(e, PermissionError):
            return SFTP_PERMISSION_DENIED
        if isinstance(e, FileNotFoundError):
            return SFTP_NO_SUCH_FILE
        return SFTPServer.convert_errno(e.errno) if isinstance(e, OSError) and e.errno else SFTP_FAILURE

    def canonicalize(self, path: str) -> str:
        try:
            return self._path(path)
        except PermissionError:
            return str(self.home)

    def list_folder(self, path: str):
        try:
            p = self._path(path)
            out = []
            for name in os.listdir(p):
                attr = SFTPAttributes.from_stat(os.lstat(os.path.join(p, name)))
                attr.filename = name
                out.append(attr)
            return out
        except OSError as e:
            return self._err(e)

    def stat(self, path: str):
        try:
            return SFTPAttributes.from_stat(os.stat(self._followed(path)))
        except OSError as e:
            return self._err(e)

    def lstat(self, path: str):
        try:
            return SFTPAttributes.from_stat(os.lstat(self._path(path)))
        except OSError as e:
            return self._err(e)

    def open(self, path: str, flags: int, attr):
        try:
            p = self._path(path)
            mode = attr.st_mode & 0o7777 if attr is not None and attr.st_mode is not None else 0o666
            # the mode from the first byte; a link as the last component is not followed (out of the home)
            fd = os.open(p, flags | os.O_NOFOLLOW | getattr(os, "O_BINARY", 0), mode)
        except OSError as e:
            return self._err(e)
        if flags & os.O_CREAT and attr is not None:
            attr._flags &= ~attr.FLAG_PERMISSIONS  # applied at creation already
            with contextlib.suppress(OSError):
                _set_attr(p, attr)
        if flags & os.O_WRONLY:
            fstr = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            fstr = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            fstr = "rb"
        try:
            f = os.fdopen(fd, fstr)
        except OSError as e:
            os.close(fd)
            return self._err(e)
        h = _Handle(flags)
        h.filename = p
        h.readfile = f
        h.writefile = f
        return h

    def remove(self, path: str) -> int:
        try:
            os.remove(self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def rename(self, oldpath: str, newpath: str) -> int:
        try:
            new = self._path(newpath)
            if os.path.lexists(new):  # SFTP v3 rename refuses to replace, like OpenSSH's sftp-server
                return SFTP_FAILURE
            os.rename(self._path(oldpath), new)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        try:
            os.replace(self._path(oldpath), self._path(newpath))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def mkdir(self, path: str, attr) -> int:
        try:
            mode = attr.st_mode & 0o7777 if attr is not None and attr.st_mode is not None else 0o777
            os.mkdir(self._path(path), mode)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def rmdir(self, path: str) -> int:
        try:
            os.rmdir(self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def chattr(self, path: str, attr) -> int:
        try:
            _set_attr(self._path(path), attr)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def symlink(self, target_path: str, path: str) -> int:
        try:
            os.symlink(target_path, self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def readlink(self, path: str):
        try:
            return os.readlink(self._path(path))
        except OSError as e:
            return self._err(e)

"""Reading a tarball someone else made (an IGTF bundle, a sandbox's trust bundle) within fixed limits.

A few megabytes of gzip can inflate to gigabytes, and tarfile inflates as it goes: so the archive is
inflated here first, by at most MAX_TOTAL bytes (one decompressor step at a time, never more than that in
memory), and only then parsed, each member's declared size and the member count checked before any member
is read. The limits are far above what a real bundle needs (the IGTF classic bundle: ~300 files, ~3 MB).
"""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zlib
from dataclasses import dataclass

MAX_COMPRESSED = 64 << 20  # what is read from disk or the network at all
MAX_TOTAL = 64 << 20  # the whole archive, inflated
MAX_MEMBER = 16 << 20  # one file (a big CA's CRL stays well below)
MAX_MEMBERS = 10_000
_STEP = 1 << 20


class TarballError(ValueError):
    """What is wrong with the archive, in words for a one-line message."""


@dataclass(frozen=True)
class Member:
    info: tarfile.TarInfo
    data: bytes | None  # a regular file's content; None for links and directories


def members(raw: bytes, *, max_total: int = MAX_TOTAL, max_member: int = MAX_MEMBER,
            max_members: int = MAX_MEMBERS) -> list[Member]:
    """Every member of the (compressed or plain) tar archive `raw`, read within the limits."""
    if len(raw) > MAX_COMPRESSED:
        raise TarballError(f"it is {len(raw) >> 20} MiB, more than a trust bundle can be")
    plain = inflate(raw, max_total)
    out: list[Member] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tf:
            for info in tf:
                if len(out) >= max_members:
                    raise TarballError(f"it holds more than {max_members} members")
                if info.isfile() and info.size > max_member:
                    raise TarballError(f"member {info.name!r} is {info.size} bytes, more than a trust "
                                       "anchor file can be")
                f = tf.extractfile(info) if info.isfile() else None
                out.append(Member(info, f.read(max_member + 1) if f else None))
    except tarfile.TarError as e:
        raise TarballError(f"not a tar archive ({e})") from None
    return out


def inflate(raw: bytes, limit: int) -> bytes:
    """`raw` decompressed (gzip, bzip2, xz, or none), refused as soon as it passes `limit` bytes."""
    if raw[:2] == b"\x1f\x8b":
        return _stream(raw, lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), limit, "gzip")
    if raw[:3] == b"BZh":
        return _stream(raw, bz2.BZ2Decompressor, limit, "bzip2")
    if raw[:6] == b"\xfd7zXZ\x00":
        return _stream(raw, lzma.LZMADecompressor, limit, "xz")
    if len(raw) > limit:
        raise TarballError(f"it is more than {limit >> 20} MiB")
    return raw


def _stream(raw: bytes, make, limit: int, kind: str) -> bytes:
    out = bytearray()
    data = raw
    while True:  # one decompressor per stream: gzip and bzip2 files may hold several, one after another
        d = make()
        try:
            while not d.eof:
                if kind == "gzip":  # zlib hands back the input it did not use yet
                    chunk = d.decompress(data, _STEP)
                    data = d.unconsumed_tail
                    if not chunk and not data:
                        raise TarballError("its gzip data is cut short")
                else:  # bz2 and lzma keep it, and say when they need more
                    if d.needs_input and not data:
                        raise TarballError(f"its {kind} data is cut short")
                    chunk = d.decompress(data, _STEP)
                    data = b""
                out += chunk
                if len(out) > limit:
                    raise TarballError(f"it inflates to more than {limit >> 20} MiB")
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as e:
            raise TarballError(f"its {kind} data is damaged ({e})") from None
        data = d.unused_data
        if not data.strip(b"\0"):  # tar's own zero padding may follow
            return bytes(out)

"""Trust-anchor tarballs for tests: a bundle of files and links, and a decompression bomb."""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import Path


def tar_bytes(files: dict[str, bytes], links: dict[str, str] | None = None, *, top: str = "certificates",
              compress: str = "") -> bytes:
    """A tar archive (compress: "" or "gz") of `files` and symbolic `links`, under the directory `top`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compress}" if compress else "w") as tf:
        for n, data in files.items():
            ti = tarfile.TarInfo(f"{top}/{n}" if top else n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for n, target in (links or {}).items():
            ti = tarfile.TarInfo(f"{top}/{n}" if top else n)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    return buf.getvalue()


def write_bundle(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None,
                 top: str = "certificates") -> Path:
    path.write_bytes(tar_bytes(files, links, top=top, compress="gz"))
    return path


def bomb(path: Path, inflated: int, level: int = 9) -> Path:
    """A gzip tarball of one member of `inflated` zero bytes, written without holding it in memory."""
    co = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    header = tarfile.TarInfo("certificates/abcdef01.0")
    header.size = inflated
    with open(path, "wb") as f:
        f.write(co.compress(header.tobuf()))
        zeros = bytes(1 << 20)
        for _ in range(inflated >> 20):
            f.write(co.compress(zeros))
        f.write(co.flush())
    return path

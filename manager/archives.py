"""Safe unpacking of uploaded archives (tar, tar.gz, tar.bz2, zip) into one directory.

Everything is checked before a byte is written: member names (no absolute paths, no `..`,
no links, no devices), member count, and the declared and the actual unpacked size, so a
hostile archive is refused whole and leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from manager.errors import BadParameters

MAX_MEMBERS = 10000
CHUNK = 1 << 16


class ArchiveError(BadParameters):
    """The archive is malformed or hostile; the message says which member and why."""


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int
    max_members: int = MAX_MEMBERS


def detect_format(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "tar.gz"
    if data[:3] == b"BZh":
        return "tar.bz2"
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    return None


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"Archive member `{name}` has an absolute path")
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"Archive member `{name}` points outside the archive")
    if not parts:
        raise ArchiveError(f"Archive member `{name}` has an empty name")
    return PurePosixPath(*parts)


@dataclass
class _Member:
    name: PurePosixPath
    is_dir: bool
    size: int
    open: object  # () -> binary file object


def _tar_members(data: bytes, mode: str) -> Iterator[_Member]:
    archive = tarfile.open(fileobj=io.BytesIO(data), mode=mode)
    for info in archive:
        if info.issym() or info.islnk():
            raise ArchiveError(f"Archive member `{info.name}` is a link; links are refused")
        if not (info.isfile() or info.isdir()):
            raise ArchiveError(f"Archive member `{info.name}` is a device or special file")
        yield _Member(
            _safe_name(info.name),
            info.isdir(),
            info.size,
            lambda info=info: archive.extractfile(info),
        )


def _zip_members(data: bytes) -> Iterator[_Member]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"Archive member `{info.filename}` is a link; links are refused")
        # Zip writers that set no file type leave these bits at zero: a plain file.
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ArchiveError(f"Archive member `{info.filename}` is a device or special file")
        yield _Member(
            _safe_name(info.filename),
            info.is_dir(),
            info.file_size,
            lambda info=info: archive.open(info),
        )


def _members(data: bytes, kind: str) -> Iterator[_Member]:
    try:
        if kind == "zip":
            yield from _zip_members(data)
        else:
            mode = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2"}[kind]
            yield from _tar_members(data, mode)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"The {kind} archive is corrupt: {exc}") from None


def extract(data: bytes, target: Path, limits: Limits) -> list[PurePosixPath]:
    """Unpack `data` into the new directory `target`; on any refusal `target` is removed."""
    kind = detect_format(data)
    if kind is None:
        raise ArchiveError(
            "Blueprint archive is of an unrecognized format. Supported formats "
            "are: tar, tar.gz, tar.bz2, zip"
        )
    members: list[_Member] = []
    declared = 0
    # Checked while listing: reaching the end of a compressed tar means decompressing it,
    # so a bomb must be refused at the first header that breaks a limit.
    for member in _members(data, kind):
        members.append(member)
        declared += member.size
        if len(members) > limits.max_members:
            raise ArchiveError(f"The archive has more than {limits.max_members} members")
        if declared > limits.max_unpacked_bytes:
            raise ArchiveError(
                f"The archive unpacks to more than {limits.max_unpacked_bytes} bytes"
            )
    target.mkdir(parents=True)
    try:
        _write(members, target, limits)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return [member.name for member in members if not member.is_dir]


def _write(members: list[_Member], target: Path, limits: Limits) -> None:
    root = target.resolve()
    written = 0
    for member in members:
        path = root.joinpath(*member.name.parts)
        # Belt and braces: the name check already refused `..` and absolute names.
        if not path.resolve().is_relative_to(root):
            raise ArchiveError(f"Archive member `{member.name}` points outside the archive")
        if member.is_dir:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        source = member.open()  # type: ignore[operator]
        with source, open(path, "xb") as sink:
            # Count real bytes: a member's declared size can lie (a compression bomb).
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > limits.max_unpacked_bytes:
                    raise ArchiveError(
                        f"The archive unpacks to more than {limits.max_unpacked_bytes} bytes"
                    )
                sink.write(chunk)


def single_top_directory(root: Path) -> Path:
    """The directory holding the blueprint: the archive's only top-level directory if it has
    exactly one and nothing else (as `cfy` packs them), else the archive root."""
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root

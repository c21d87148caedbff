"""Safe unpacking of uploaded archives (tar, tar.gz, tar.bz2, zip) into one directory.

Member names are checked before a byte is written (no absolute paths, no `..`, no links, no
devices, no two members of one name, no name that is both a file and a directory), and so are
the member count and the declared unpacked size. While writing, the bytes actually produced
are counted against the unpacked-size limit and the compression-ratio limit (per member and
for the whole archive), since declared sizes can lie. A hostile or corrupt archive is refused
whole and leaves nothing behind.
"""

from __future__ import annotations

import io
import lzma
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from manager.errors import BadParameters
from manager.settings import Settings

MAX_MEMBERS = 10000
CHUNK = 1 << 16
DEFAULT_MAX_COMPRESSION_RATIO = 100
# Below this many unpacked bytes (per member, and for the whole archive) no ratio is checked:
# small text files legitimately compress very well, and the decompressors' read-ahead makes a
# small member's share of the input too noisy to judge.
RATIO_GRACE_BYTES = 1 << 20
# What reading a damaged member can raise: zipfile's CRC and header checks, zlib, bz2 and
# lzma decoders, a truncated stream, an unsupported or encrypted zip member.
_DAMAGE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)


class ArchiveError(BadParameters):
    """The archive is malformed or hostile; the message says which member and why."""


class ArchiveTooLarge(ArchiveError):
    """The archive breaks a size limit; the message names the limit and its setting."""

    status_code = 413


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int
    max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO
    max_members: int = MAX_MEMBERS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_unpacked_bytes, settings.max_compression_ratio)


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


def safe_name(name: str) -> PurePosixPath:
    """`name` as a relative path inside the archive, or ArchiveError saying why it is not."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"Archive member `{name}` has an absolute path")
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"Archive member `{name}` points outside the archive")
    if not parts:
        raise ArchiveError(f"Archive member `{name}` has an empty name")
    return PurePosixPath(*parts)


def check_zip_names(data: bytes, what: str) -> None:
    """Refuse a zip (a wheel, kept as uploaded and unpacked later by pip or uv) that holds a
    member with an absolute or `..` path, or a link; `what` names it in the message."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{what} is not a valid zip: {exc}") from None
    for info in infos:
        try:
            _zip_kind(info)
            safe_name(info.filename)
        except ArchiveError as exc:
            raise ArchiveError(f"{what}: {exc.message}") from None


@dataclass
class _Member:
    name: PurePosixPath
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes] | None]


class _CountedInput(io.BytesIO):
    """The archive's bytes, counting those read: the compressed input consumed so far."""

    consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


_TarMode = Literal["r:", "r:gz", "r:bz2"]
_TAR_MODES: dict[str, _TarMode] = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2"}


def _tar_members(source: _CountedInput, mode: _TarMode) -> Iterator[_Member]:
    archive = tarfile.open(fileobj=source, mode=mode)
    for info in archive:
        if info.issym() or info.islnk():
            raise ArchiveError(f"Archive member `{info.name}` is a link; links are refused")
        if not (info.isfile() or info.isdir()):
            raise ArchiveError(f"Archive member `{info.name}` is a device or special file")
        yield _Member(
            safe_name(info.name),
            info.isdir(),
            info.size,
            partial(archive.extractfile, info),
        )


def _zip_kind(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"Archive member `{info.filename}` is a link; links are refused")
    # Zip writers that set no file type leave these bits at zero: a plain file.
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ArchiveError(f"Archive member `{info.filename}` is a device or special file")


def _zip_members(source: _CountedInput) -> Iterator[_Member]:
    archive = zipfile.ZipFile(source)
    for info in archive.infolist():
        _zip_kind(info)
        yield _Member(
            safe_name(info.filename),
            info.is_dir(),
            info.file_size,
            partial(archive.open, info),
        )


def _members(source: _CountedInput, kind: str) -> Iterator[_Member]:
    last = None
    try:
        members = _zip_members(source) if kind == "zip" else _tar_members(source, _TAR_MODES[kind])
        for member in members:
            last = member.name
            yield member
    except _DAMAGE as exc:
        where = f" after member `{last}`" if last is not None else ""
        raise ArchiveError(f"The {kind} archive is corrupt{where}: {exc}") from None


class _Names:
    """The paths an archive's members create, to refuse two members of one name and a name
    that is both a file and a directory (unpacking either would fail half-way)."""

    def __init__(self) -> None:
        self.files: set[PurePosixPath] = set()
        self.dirs: set[PurePosixPath] = set()

    def add(self, name: PurePosixPath, is_dir: bool) -> None:
        for parent in name.parents:
            if parent in self.files:
                raise ArchiveError(
                    f"Archive member `{parent}` is both a file and a directory (of `{name}`)"
                )
        if name in self.files:
            if is_dir:
                raise ArchiveError(f"Archive member `{name}` is both a file and a directory")
            raise ArchiveError(f"The archive has two members named `{name}`")
        if not is_dir and name in self.dirs:
            raise ArchiveError(f"Archive member `{name}` is both a file and a directory")
        # The same directory listed twice (tar does it when appending) is harmless.
        (self.dirs if is_dir else self.files).add(name)
        self.dirs.update(parent for parent in name.parents if parent.parts)


def extract(data: bytes, target: Path, limits: Limits) -> list[PurePosixPath]:
    """Unpack `data` into the new directory `target`; on any refusal `target` is removed."""
    kind = detect_format(data)
    if kind is None:
        raise ArchiveError(
            "Blueprint archive is of an unrecognized format. Supported formats "
            "are: tar, tar.gz, tar.bz2, zip"
        )
    source = _CountedInput(data)
    members: list[_Member] = []
    names = _Names()
    declared = 0
    # Checked while listing: reaching the end of a compressed tar means decompressing it,
    # so a bomb must be refused at the first header that breaks a limit.
    for member in _members(source, kind):
        members.append(member)
        names.add(member.name, member.is_dir)
        declared += member.size
        if len(members) > limits.max_members:
            raise ArchiveTooLarge(f"The archive has more than {limits.max_members} members")
        if declared > limits.max_unpacked_bytes:
            raise _too_large(limits)
    target.mkdir(parents=True)
    try:
        _write(members, target, limits, source, len(data))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return [member.name for member in members if not member.is_dir]


def _too_large(limits: Limits) -> ArchiveTooLarge:
    return ArchiveTooLarge(
        f"The archive unpacks to more than {limits.max_unpacked_bytes} bytes, the limit set "
        "by QD_MAX_UNPACKED_BYTES"
    )


def _write(
    members: list[_Member], target: Path, limits: Limits, source: _CountedInput, size: int
) -> None:
    root = target.resolve()
    ratio = limits.max_compression_ratio
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
        started_at, member_written = source.consumed, 0
        reader = _open(member)
        with reader, open(path, "xb") as sink:
            # Count real bytes: a member's declared size can lie (a compression bomb).
            while chunk := _read(reader, member):
                written += len(chunk)
                member_written += len(chunk)
                if written > limits.max_unpacked_bytes:
                    raise _too_large(limits)
                consumed = source.consumed - started_at
                if member_written > RATIO_GRACE_BYTES and member_written > ratio * consumed:
                    raise ArchiveTooLarge(
                        f"Archive member `{member.name}` expands more than {ratio:g} times "
                        f"({member_written} bytes so far from {consumed}), the limit set by "
                        "QD_MAX_COMPRESSION_RATIO"
                    )
                if written > RATIO_GRACE_BYTES and written > ratio * size:
                    raise ArchiveTooLarge(
                        f"The archive expands more than {ratio:g} times its {size} bytes, the "
                        "limit set by QD_MAX_COMPRESSION_RATIO"
                    )
                sink.write(chunk)


def _open(member: _Member) -> IO[bytes]:
    try:
        reader = member.open()
    except _DAMAGE as exc:
        raise ArchiveError(f"Archive member `{member.name}` cannot be read: {exc}") from None
    if reader is None:
        raise ArchiveError(f"Archive member `{member.name}` cannot be read")
    return reader


def _read(reader: IO[bytes], member: _Member) -> bytes:
    """The next chunk of a member; damage (bad CRC, truncation, bad data) is the client's."""
    try:
        return reader.read(CHUNK)
    except _DAMAGE as exc:
        raise ArchiveError(f"Archive member `{member.name}` is corrupt: {exc}") from None


def single_top_directory(root: Path) -> Path:
    """The directory holding the blueprint: the archive's only top-level directory if it has
    exactly one and nothing else (as `cfy` packs them), else the archive root."""
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root

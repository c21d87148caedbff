"""Unpacking uploads: every hostile shape is refused whole and writes nothing."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from manager.archives import ArchiveError, Limits, detect_format, extract, single_top_directory

LIMITS = Limits(max_unpacked_bytes=1 << 20, max_members=50)


def tar_bytes(
    members: list[tarfile.TarInfo], contents: dict[str, bytes], mode: str = "w:gz"
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for info in members:
            data = contents.get(info.name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file_info(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def special(name: str, kind: bytes, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """The upload goes to sandbox/target; nothing may appear anywhere else in tmp_path."""
    (tmp_path / "sandbox").mkdir()
    return tmp_path / "sandbox"


def assert_nothing_written(sandbox: Path) -> None:
    assert list(sandbox.parent.rglob("*")) == [sandbox]


@pytest.mark.parametrize("mode,kind", [("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w", "tar")])
def test_tar_formats_unpack(sandbox: Path, mode: str, kind: str) -> None:
    body = b"tosca_definitions_version: cloudify_dsl_1_4\n"
    data = tar_bytes([file_info("bp/blueprint.yaml", body)], {"bp/blueprint.yaml": body}, mode)
    assert detect_format(data) == kind
    names = extract(data, sandbox / "target", LIMITS)
    assert [str(n) for n in names] == ["bp/blueprint.yaml"]
    assert (single_top_directory(sandbox / "target") / "blueprint.yaml").read_bytes() == body


def test_zip_unpacks(sandbox: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bp/blueprint.yaml", "a: 1\n")
        archive.writestr("bp/scripts/run.sh", "echo hi\n")
    extract(buffer.getvalue(), sandbox / "target", LIMITS)
    assert (sandbox / "target" / "bp" / "scripts" / "run.sh").read_text() == "echo hi\n"


@pytest.mark.parametrize(
    "member,message",
    [
        (file_info("../escape.yaml", b"x"), "`../escape.yaml` points outside the archive"),
        (file_info("bp/../../escape.yaml", b"x"), "points outside the archive"),
        (file_info("/etc/evil.yaml", b"x"), "`/etc/evil.yaml` has an absolute path"),
        (special("bp/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "is a link"),
        (special("bp/hard", tarfile.LNKTYPE, linkname="bp/blueprint.yaml"), "is a link"),
        (special("bp/dev", tarfile.CHRTYPE, devmajor=1, devminor=3), "device or special file"),
        (special("bp/fifo", tarfile.FIFOTYPE), "device or special file"),
    ],
)
def test_hostile_tar_members_are_refused(
    sandbox: Path, member: tarfile.TarInfo, message: str
) -> None:
    good = file_info("bp/blueprint.yaml", b"a: 1\n")
    data = tar_bytes([good, member], {"bp/blueprint.yaml": b"a: 1\n", member.name: b"x"})
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        extract(data, sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_zip_traversal_is_refused(sandbox: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bp/blueprint.yaml", "a: 1\n")
        archive.writestr("../../outside.txt", "gotcha")
    with pytest.raises(ArchiveError, match="points outside the archive"):
        extract(buffer.getvalue(), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_compression_bomb_is_refused(sandbox: Path) -> None:
    # 64 MiB of zeros compress to ~64 KiB; the limit here is 1 MiB.
    zeros = b"\0" * (64 << 20)
    data = tar_bytes([file_info("bp/zeros", zeros)], {"bp/zeros": zeros})
    assert len(data) < 200_000
    with pytest.raises(ArchiveError, match="unpacks to more than 1048576 bytes"):
        extract(data, sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_zip_with_a_lying_size_is_stopped_by_real_bytes(sandbox: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bp/zeros", b"\0" * (4 << 20))
    with pytest.raises(ArchiveError, match="unpacks to more than"):
        extract(buffer.getvalue(), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_too_many_members_is_refused(sandbox: Path) -> None:
    members = [file_info(f"bp/f{i}", b"") for i in range(60)]
    with pytest.raises(ArchiveError, match="more than 50 members"):
        extract(tar_bytes(members, {}), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_unknown_format_and_corrupt_archives(sandbox: Path) -> None:
    with pytest.raises(ArchiveError, match="unrecognized format"):
        extract(b"just some text", sandbox / "target", LIMITS)
    with pytest.raises(ArchiveError, match="corrupt"):
        extract(gzip.compress(b"not a tar at all" * 100), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)

"""Unpacking uploads: every hostile shape is refused whole and writes nothing."""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import warnings
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


# malformed archives: each is refused whole, naming the member -------------------------------


def zip_bytes(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: we want them
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar"])
@pytest.mark.parametrize(
    "names,message",
    [
        (["bp/a.yaml", "bp/a.yaml"], "The archive has two members named `bp/a.yaml`"),
        (["bp/a.yaml", "bp//./a.yaml"], "The archive has two members named `bp/a.yaml`"),
        (["bp/x", "bp/x/inner.yaml"], "Archive member `bp/x` is both a file and a directory"),
        (["bp/x/inner.yaml", "bp/x"], "Archive member `bp/x` is both a file and a directory"),
        (["bp/x", "bp/x/"], "Archive member `bp/x` is both a file and a directory"),
    ],
)
def test_duplicate_and_clashing_names_are_refused(
    sandbox: Path, kind: str, names: list[str], message: str
) -> None:
    if kind == "zip":
        data = zip_bytes([(name, b"" if name.endswith("/") else b"a: 1\n") for name in names])
    else:
        members = [
            special(name.rstrip("/"), tarfile.DIRTYPE)
            if name.endswith("/")
            else file_info(name, b"a: 1\n")
            for name in names
        ]
        # Not tar_bytes: duplicate names need their content given member by member.
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz" if kind == "tar.gz" else "w") as tar:
            for info in members:
                tar.addfile(info, io.BytesIO(b"a: 1\n") if info.isfile() else None)
        data = buffer.getvalue()
    with pytest.raises(ArchiveError, match=re.escape(message)) as caught:
        extract(data, sandbox / "target", LIMITS)
    assert caught.value.status_code == 400
    assert_nothing_written(sandbox)


def test_the_same_directory_listed_twice_is_fine(sandbox: Path) -> None:
    members = [special("bp", tarfile.DIRTYPE), special("bp", tarfile.DIRTYPE)]
    members.append(file_info("bp/blueprint.yaml", b"a: 1\n"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"a: 1\n") if info.isfile() else None)
    extract(buffer.getvalue(), sandbox / "target", LIMITS)
    assert (sandbox / "target" / "bp" / "blueprint.yaml").read_bytes() == b"a: 1\n"


def test_zip_member_with_a_bad_crc_is_refused(sandbox: Path) -> None:
    good = b"first: member\n" * 50
    data = bytearray(zip_bytes([("bp/blueprint.yaml", b"a: 1\n"), ("bp/scripts/run.sh", good)]))
    # Stored members keep their bytes as they are: flip one of the second member's.
    at = bytes(data).index(good) + 10
    data[at] ^= 0xFF
    with pytest.raises(
        ArchiveError, match=r"Archive member `bp/scripts/run.sh` is corrupt: Bad CRC"
    ):
        extract(bytes(data), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_zip_member_with_bad_deflate_data_is_refused(sandbox: Path) -> None:
    text = bytes(range(256)) * 64
    data = bytearray(zip_bytes([("bp/blueprint.yaml", text)], zipfile.ZIP_DEFLATED))
    header = 30 + len("bp/blueprint.yaml")
    data[header : header + 40] = b"\xff" * 40
    with pytest.raises(ArchiveError, match=r"Archive member `bp/blueprint.yaml` is corrupt"):
        extract(bytes(data), sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w"])
def test_truncated_tar_archives_are_refused(sandbox: Path, mode: str) -> None:
    body = bytes(range(256)) * 400  # about 100 KiB that does not compress away
    data = tar_bytes(
        [file_info("bp/blueprint.yaml", b"a: 1\n"), file_info("bp/big.bin", body)],
        {"bp/blueprint.yaml": b"a: 1\n", "bp/big.bin": body},
        mode,
    )
    with pytest.raises(ArchiveError, match=r"corrupt|unexpected end"):
        extract(data[: len(data) // 2], sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


def test_truncated_zip_is_refused(sandbox: Path) -> None:
    data = zip_bytes([("bp/blueprint.yaml", b"a: 1\n" * 1000)], zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match="The zip archive is corrupt"):
        extract(data[: len(data) - 30], sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)


# compression ratio: checked on the bytes actually produced, per member and overall ----------

RATIO_LIMITS = Limits(max_unpacked_bytes=256 << 20, max_compression_ratio=100)


def zip_of_zeros(sizes: dict[str, int]) -> bytes:
    """A zip of members of zeros, written in pieces (the largest here is 200 MiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, size in sizes.items():
            with archive.open(name, "w", force_zip64=True) as member:
                piece = b"\0" * (1 << 20)
                for offset in range(0, size, len(piece)):
                    member.write(piece[: size - offset])
    return buffer.getvalue()


def test_one_member_expanding_past_the_ratio_is_refused(sandbox: Path) -> None:
    data = zip_of_zeros({"bp/blueprint.yaml": 5, "bp/zeros.bin": 200 << 20})
    assert len(data) < 300_000
    with pytest.raises(ArchiveError, match="QD_MAX_COMPRESSION_RATIO") as caught:
        extract(data, sandbox / "target", RATIO_LIMITS)
    assert "Archive member `bp/zeros.bin` expands more than 100 times" in caught.value.message
    assert caught.value.status_code == 413
    assert_nothing_written(sandbox)


def test_many_small_members_expanding_past_the_ratio_overall_are_refused(sandbox: Path) -> None:
    # Each member stays under the 1 MiB below which a member's ratio is not judged.
    data = zip_of_zeros({f"bp/zeros{i}.bin": 1000_000 for i in range(60)})
    with pytest.raises(ArchiveError, match="The archive expands more than 100 times") as caught:
        extract(data, sandbox / "target", RATIO_LIMITS)
    assert "QD_MAX_COMPRESSION_RATIO" in caught.value.message
    assert_nothing_written(sandbox)


def test_ordinary_archives_pass_the_ratio(sandbox: Path) -> None:
    # YAML compresses well but nowhere near 100 times; random bytes not at all.
    yaml = "".join(f"  node_{i}:\n    type: cloudify.nodes.Root\n" for i in range(40000))
    noise = os.urandom(3 << 20)
    data = tar_bytes(
        [file_info("bp/blueprint.yaml", yaml.encode()), file_info("bp/noise.bin", noise)],
        {"bp/blueprint.yaml": yaml.encode(), "bp/noise.bin": noise},
    )
    extract(data, sandbox / "target", RATIO_LIMITS)
    assert (sandbox / "target" / "bp" / "noise.bin").read_bytes() == noise


def test_unpacked_size_limit_names_its_setting(sandbox: Path) -> None:
    data = zip_of_zeros({"bp/zeros.bin": 3 << 20})
    with pytest.raises(ArchiveError, match="more than 1048576 bytes.*QD_MAX_UNPACKED_BYTES"):
        extract(data, sandbox / "target", LIMITS)
    assert_nothing_written(sandbox)

"""What an uploaded plugin is (a wagon, a wheel, an sdist, or `cfy`'s zip of one of them with
its YAML files), read from the content alone, and the version ordering used to pick among
uploads.

No name from the request reaches the file system: archives are unpacked by `manager.archives`
(which refuses hostile members) into a scratch directory, and the files kept are written
under names built here from checked metadata.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from manager import archives
from manager.dsl.issues import Issues
from manager.dsl.loader import load_yaml, plain
from manager.errors import BadParameters

# Package names and versions become virtualenv directory names on the workers
# (workers.venvs applies the same rule), so a plugin that passes here is installable.
# Always matched with fullmatch: `$` would also accept a trailing newline.
SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")
PACKAGE_SUFFIXES = (".wgn", ".whl", ".tar.gz")
YAML_SUFFIXES = (".yaml", ".yml")
ICON = "icon.png"
MAX_METADATA_BYTES = 1 << 20
UNKNOWN_FORMAT = (
    "The upload is not a plugin: send a wagon (.wgn), a wheel, an sdist (.tar.gz or .zip), "
    "or a zip holding one of them with its plugin.yaml (what `cfy plugins upload` sends)"
)


class PluginArchiveError(BadParameters):
    """The upload is not a usable plugin; the message says what is missing or wrong."""


@dataclass
class PluginPackage:
    """Metadata of one uploaded plugin, and the names of its files in the staging directory."""

    kind: str  # wagon, wheel or sdist
    archive_name: str
    package_name: str
    package_version: str
    package_source: str | None = None
    supported_platform: str | None = None
    supported_py_versions: list[str] = field(default_factory=list)
    distribution: str | None = None
    distribution_release: str | None = None
    distribution_version: str | None = None
    wheels: list[str] = field(default_factory=list)
    excluded_wheels: list[str] = field(default_factory=list)
    # The main YAML first (the one whose name contains `plugin.`), then the others.
    yaml_files: list[str] = field(default_factory=list)
    blueprint_labels: dict[str, Any] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)
    resource_tags: dict[str, Any] | None = None


def read_upload(
    data: bytes, staging: Path, scratch: Path, limits: archives.Limits
) -> PluginPackage:
    """Classify and check an upload; leave the files to keep in the new directory `staging`:
    the package under its canonical name, the YAML files and `icon.png`."""
    staging.mkdir(parents=True)
    kind = archives.detect_format(data)
    if kind is None:
        raise PluginArchiveError(UNKNOWN_FORMAT)
    if kind == "zip" and _wheel_dist_info(data) is not None:
        package = _read_wheel(data)
        (staging / package.archive_name).write_bytes(data)
        return package
    tree = scratch / "upload"
    archives.extract(data, tree, limits)
    bundled = _bundle_members(tree)
    if bundled is None:
        package = _read_unpacked(data, kind, tree, hint=None)
        (staging / package.archive_name).write_bytes(data)
        return package
    package_file, yaml_files, icon = bundled
    inner = package_file.read_bytes()
    package = _read_package(inner, scratch / "package", limits, hint=package_file.name)
    shutil.copyfile(package_file, staging / package.archive_name)
    package.yaml_files = _keep_yaml_files(yaml_files, staging, package)
    if icon is not None:
        shutil.copyfile(icon, staging / ICON)
    return package


def _read_package(data: bytes, tree: Path, limits: archives.Limits, hint: str) -> PluginPackage:
    """The package file found inside a bundle: a wagon, a wheel or an sdist, never a bundle."""
    kind = archives.detect_format(data)
    if kind is None:
        raise PluginArchiveError(f"`{hint}` in the upload is not a wagon, wheel or sdist")
    if kind == "zip" and _wheel_dist_info(data) is not None:
        return _read_wheel(data)
    archives.extract(data, tree, limits)
    return _read_unpacked(data, kind, tree, hint)


def _bundle_members(tree: Path) -> tuple[Path, list[Path], Path | None] | None:
    """`cfy plugins upload` zips the wagon, the `-y` YAML files and `icon.png` side by side."""
    files = [path for path in tree.iterdir() if path.is_file()]
    packages = [path for path in files if path.name.endswith(PACKAGE_SUFFIXES)]
    if not packages:
        return None
    if len(packages) > 1:
        names = ", ".join(sorted(path.name for path in packages))
        raise PluginArchiveError(
            f"The upload holds {len(packages)} plugin packages ({names}); upload one plugin "
            "(a wagon and its YAML files) per request: plugin bundles are not supported"
        )
    yaml_files = sorted(path for path in files if path.name.endswith(YAML_SUFFIXES))
    icon = tree / ICON
    return packages[0], yaml_files, icon if icon.is_file() else None


def _read_unpacked(data: bytes, kind: str, tree: Path, hint: str | None) -> PluginPackage:
    entries = list(tree.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else None
    if top is not None and (top / "package.json").is_file():
        return _read_wagon(top, kind, hint)
    if top is not None and (top / "PKG-INFO").is_file():
        return _read_sdist(top, kind)
    raise PluginArchiveError(UNKNOWN_FORMAT)


# wagons ---------------------------------------------------------------------------------------


def _read_wagon(top: Path, kind: str, hint: str | None) -> PluginPackage:
    try:
        metadata = json.loads(_small_text(top / "package.json"))
    except ValueError as exc:
        raise PluginArchiveError(f"The wagon's package.json is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise PluginArchiveError("The wagon's package.json must hold a JSON object")
    name = _component(metadata.get("package_name"), "package_name in the wagon's package.json")
    version = _component(
        metadata.get("package_version"), "package_version in the wagon's package.json"
    )
    wheels_dir = top / "wheels"
    found = sorted(p.name for p in wheels_dir.glob("*.whl")) if wheels_dir.is_dir() else []
    for wheel in found:
        archives.check_zip_names((wheels_dir / wheel).read_bytes(), f"The wagon's wheel {wheel}")
    if not found:
        raise PluginArchiveError(
            f"The wagon of {name} {version} has no wheels: a wagon holds "
            "<dir>/package.json and <dir>/wheels/*.whl"
        )
    build = metadata.get("build_server_os_properties")
    build = build if isinstance(build, dict) else {}
    platform = _text(metadata.get("supported_platform")) or "any"
    py_versions = _strings(metadata.get("supported_python_versions"))
    archive_name = next(
        (
            candidate
            for candidate in (_text(metadata.get("archive_name")), hint)
            if candidate and candidate.endswith(".wgn") and SAFE_COMPONENT.fullmatch(candidate)
        ),
        None,
    ) or _file_name(
        f"{_escape(name)}-{version}-{'.'.join(py_versions) or 'py3'}-none-{platform}.wgn"
    )
    return PluginPackage(
        kind="wagon",
        archive_name=archive_name,
        package_name=name,
        package_version=version,
        package_source=_text(metadata.get("package_source")),
        supported_platform=platform,
        supported_py_versions=py_versions,
        distribution=_text(build.get("distribution")),
        distribution_release=_text(build.get("distribution_release")),
        distribution_version=_text(build.get("distribution_version")),
        wheels=_strings(metadata.get("wheels")) or found,
        excluded_wheels=_strings(metadata.get("excluded_wheels")),
    )


# wheels and sdists ----------------------------------------------------------------------------


def _wheel_dist_info(data: bytes) -> str | None:
    """The `<name>-<version>.dist-info` directory of a wheel, or None for any other zip."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    found = {n.split("/")[0] for n in names if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)}
    return found.pop() if len(found) == 1 else None


def _read_wheel(data: bytes) -> PluginPackage:
    # Kept as uploaded and unpacked later by pip or uv on the workers: refuse it now if any
    # member would land outside the site-packages it is installed into.
    archives.check_zip_names(data, "The wheel")
    dist_info = _wheel_dist_info(data)
    archive = zipfile.ZipFile(io.BytesIO(data))

    def member(name: str) -> str:
        try:
            info = archive.getinfo(f"{dist_info}/{name}")
        except KeyError:
            raise PluginArchiveError(f"The wheel has no {dist_info}/{name}") from None
        if info.file_size > MAX_METADATA_BYTES:
            raise PluginArchiveError(f"The wheel's {name} is larger than {MAX_METADATA_BYTES}")
        return archive.read(info).decode("utf-8", "replace")

    metadata = HeaderParser().parsestr(member("METADATA"))
    name = _component(metadata.get("Name"), "Name in the wheel's METADATA")
    version = _component(metadata.get("Version"), "Version in the wheel's METADATA")
    tags = HeaderParser().parsestr(member("WHEEL")).get_all("Tag") or ["py3-none-any"]
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        pieces = tag.strip().split("-")
        if len(pieces) != 3:
            raise PluginArchiveError(f"The wheel's WHEEL file has an invalid tag `{tag}`")
        for index, piece in enumerate(pieces):
            if piece not in parts[index]:
                parts[index].append(piece)
    pythons, abis, platforms = parts
    archive_name = _file_name(
        f"{_escape(name)}-{version.replace('-', '_')}-"
        f"{'.'.join(pythons)}-{'.'.join(abis)}-{'.'.join(platforms)}.whl"
    )
    return PluginPackage(
        kind="wheel",
        archive_name=archive_name,
        package_name=name,
        package_version=version,
        supported_platform="any" if platforms == ["any"] else ".".join(platforms),
        supported_py_versions=pythons,
        wheels=[archive_name],
    )


def _read_sdist(top: Path, kind: str) -> PluginPackage:
    if kind not in ("tar.gz", "zip"):
        raise PluginArchiveError("A source distribution must be a .tar.gz or a .zip")
    if not ((top / "pyproject.toml").is_file() or (top / "setup.py").is_file()):
        raise PluginArchiveError(
            "The source distribution has no pyproject.toml or setup.py to build it with"
        )
    metadata = HeaderParser().parsestr(_small_text(top / "PKG-INFO"))
    name = _component(metadata.get("Name"), "Name in the sdist's PKG-INFO")
    version = _component(metadata.get("Version"), "Version in the sdist's PKG-INFO")
    suffix = ".tar.gz" if kind == "tar.gz" else ".zip"
    return PluginPackage(
        kind="sdist",
        archive_name=_file_name(f"{_escape(name)}-{version}{suffix}"),
        package_name=name,
        package_version=version,
        supported_platform="any",
    )


# YAML files -----------------------------------------------------------------------------------


def _keep_yaml_files(files: list[Path], staging: Path, package: PluginPackage) -> list[str]:
    """Check and copy the YAML files; read the catalogue extras from the main one."""
    kept = []
    documents: dict[str, Any] = {}
    for path in files:
        name = path.name
        if not SAFE_COMPONENT.fullmatch(name):
            raise PluginArchiveError(
                f"YAML file name `{name}` is invalid: use letters, digits and `_ . + -`"
            )
        issues = Issues()
        document = load_yaml(path.read_bytes(), name, issues)
        if issues:
            problems = "; ".join(f"line {i.line}: {i.message}" for i in issues.items)
            raise PluginArchiveError(f"{name} is not valid YAML: {problems}")
        if not isinstance(document, dict):
            raise PluginArchiveError(f"{name} must be a YAML mapping (plugins, node_types, ...)")
        shutil.copyfile(path, staging / name)
        documents[name] = document
        kept.append(name)
    if not kept:
        return []
    mains = [name for name in kept if "plugin." in name]
    main = "plugin.yaml" if "plugin.yaml" in mains else (mains or kept)[0]
    document = plain(documents[main])
    labels = document.get("blueprint_labels")
    package.blueprint_labels = labels if isinstance(labels, dict) else {}
    package.labels = _label_list(document.get("labels"))
    tags = document.get("resource_tags")
    package.resource_tags = tags if isinstance(tags, dict) else None
    return [main] + [name for name in kept if name != main]


def _label_list(raw: Any) -> list[dict[str, Any]]:
    """plugin.yaml's `labels: {key: {values: [...]}}` as the API's list of key/value pairs."""
    if not isinstance(raw, dict):
        return []
    pairs = []
    for key, spec in raw.items():
        values = spec.get("values") if isinstance(spec, dict) else spec
        for value in values if isinstance(values, list) else [values]:
            if value is not None:
                pairs.append({"key": str(key), "value": str(value)})
    return pairs


# small helpers --------------------------------------------------------------------------------


def _small_text(path: Path) -> str:
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise PluginArchiveError(f"{path.name} is larger than {MAX_METADATA_BYTES} bytes")
    return path.read_text(encoding="utf-8", errors="replace")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _component(value: Any, what: str) -> str:
    text = _text(value)
    if text is None:
        raise PluginArchiveError(f"The plugin has no {what}")
    text = text.strip()
    if not SAFE_COMPONENT.fullmatch(text):
        raise PluginArchiveError(
            f"{what} `{text}` is invalid: use letters, digits and `_ . + -`, "
            "not starting with a dot or a dash"
        )
    return text


def _escape(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _file_name(name: str) -> str:
    if not SAFE_COMPONENT.fullmatch(name):
        raise PluginArchiveError(f"Cannot store the plugin under the name `{name}`")
    return name


# versions -------------------------------------------------------------------------------------
# A standard-library subset of PEP 440, enough to order uploads and to read the
# `plugin:<name>?version=<spec>` import form (the manager does not depend on `packaging`).

_VERSION = re.compile(
    r"v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:-(?P<post_implicit>\d+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n>\d*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev_n>\d*))?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?",
    re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_NONE = 1 << 62
_CLAUSE = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)?\s*(\S+?)\s*")


def _release(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key: PEP 440 order for valid versions; anything else sorts below them, by text."""
    m = _VERSION.fullmatch(version.strip())
    if m is None:
        return (0, version)
    pre, post_n, dev_n = m["pre"], m["post_implicit"] or m["post_n"], m["dev_n"]
    has_post = m["post_implicit"] is not None or m["post_n"] is not None
    has_dev = m["dev_n"] is not None
    if pre:
        pre_key: tuple[int, int] = (_PRE_RANK[pre.lower()], int(m["pre_n"] or 0))
    elif has_dev and not has_post:
        pre_key = (-1, 0)  # 1.0.dev1 comes before 1.0a1
    else:
        pre_key = (3, 0)
    return (
        1,
        int(m["epoch"] or 0),
        _release(m["release"]),
        pre_key,
        int(post_n or 0) if has_post else -1,
        int(dev_n or 0) if has_dev else _NONE,
    )


def matches_spec(version: str, spec: str) -> bool:
    """Does `version` satisfy `spec` (`1.2`, `==1.*`, `>=1.0,<2`, `~=1.4`, ...)?"""
    for clause in spec.split(","):
        m = _CLAUSE.fullmatch(clause)
        if m is None:
            return False
        operator, wanted = m[1] or "==", m[2]
        if not _matches(version, operator, wanted):
            return False
    return True


def _matches(version: str, operator: str, wanted: str) -> bool:
    if operator == "===" or _VERSION.fullmatch(wanted.removesuffix(".*")) is None:
        equal = version.strip() == wanted
        return not equal if operator == "!=" else equal and operator in ("==", "===")
    mine = version_key(version)
    if mine[0] == 0:
        return False
    if operator in ("==", "!=") and wanted.endswith(".*"):
        wanted_release = [int(p) for p in wanted[:-2].split(".") if p.isdigit()]
        m = _VERSION.fullmatch(version.strip())
        release = [int(p) for p in m["release"].split(".")] if m else []
        release += [0] * max(0, len(wanted_release) - len(release))
        same = release[: len(wanted_release)] == wanted_release
        return same if operator == "==" else not same
    other = version_key(wanted)
    if operator == "~=":
        series = ".".join(wanted.split(".")[:-1])
        return mine >= other and _matches(version, "==", series + ".*")
    return {
        "==": mine == other,
        "!=": mine != other,
        "<=": mine <= other,
        ">=": mine >= other,
        "<": mine < other,
        ">": mine > other,
    }[operator]

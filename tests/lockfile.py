"""Reads the dependency pins: pyproject.toml (direct, by hand), uv.lock (whole closure), the Makefile's uv."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "op-py-services"


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def locked_packages() -> dict[str, dict[str, Any]]:
    """Canonical name -> the lock's package table (one version each: the lock has no forks here)."""
    packages: dict[str, dict[str, Any]] = {}
    for package in lock()["package"]:
        name = canonicalize_name(package["name"])
        assert name not in packages, f"uv.lock holds {name} twice (a resolution fork): extend this check"
        packages[name] = package
    return packages


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile has no UV_VERSION"
    return match.group(1)


def _applies(dependency: dict[str, Any], extras: frozenset[str]) -> bool:
    marker = dependency.get("marker")
    if marker is None:
        return True
    return any(Marker(marker).evaluate({"extra": extra}) for extra in {"", *extras})


def closure(extras: frozenset[str]) -> dict[str, str]:
    """Name -> locked version of every package this interpreter and platform install for the project."""
    packages = locked_packages()
    pins: dict[str, str] = {}

    def walk(name: str, wanted: frozenset[str]) -> None:
        package = packages[name]
        if name in pins and not wanted:
            return
        pins[name] = package["version"]
        dependencies = list(package.get("dependencies", []))
        for extra in wanted:
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        for dependency in dependencies:
            if _applies(dependency, wanted):
                walk(canonicalize_name(dependency["name"]), frozenset(dependency.get("extra", [])))

    walk(PROJECT, extras)
    del pins[PROJECT]
    return pins


def requirement_key(requirement: Requirement) -> tuple[str, str, str, str]:
    return (
        canonicalize_name(requirement.name),
        ",".join(sorted(requirement.extras)),
        str(requirement.specifier),
        str(requirement.marker or ""),
    )

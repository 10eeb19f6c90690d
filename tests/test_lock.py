"""The lock is the single source of installed versions: it matches pyproject.toml and the venv matches it.

No network: the first checks read pyproject.toml, uv.lock and the Makefile; the last asks the venv's own uv
(offline) whether the lock still resolves pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.lockfile import (
    PROJECT,
    ROOT,
    closure,
    lock,
    locked_packages,
    makefile_uv_version,
    pyproject,
    requirement_key,
)


def _pyproject_requirements() -> set[tuple[str, str, str, str]]:
    project = pyproject()["project"]
    texts = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        texts += [f"{text}; extra == '{extra}'" for text in requirements]
    return {requirement_key(Requirement(text)) for text in texts}


def _locked_requirements() -> set[tuple[str, str, str, str]]:
    keys = set()
    for entry in locked_packages()[PROJECT]["metadata"]["requires-dist"]:
        text = entry["name"] + (f"[{','.join(entry['extras'])}]" if entry.get("extras") else "")
        text += entry.get("specifier", "")
        if "marker" in entry:
            text += f"; {entry['marker']}"
        keys.add(requirement_key(Requirement(text)))
    return keys


def test_the_lock_records_exactly_the_pyproject_requirements():
    """uv.lock was made from this pyproject.toml: the same direct requirements, specifiers and markers."""
    assert _pyproject_requirements() == _locked_requirements(), "pyproject.toml changed: run `make lock`"


def test_every_direct_pin_is_the_locked_version():
    """Each `==` pin of pyproject.toml is the version the lock holds (no second source of versions)."""
    packages = locked_packages()
    for name, _, specifier, _ in _pyproject_requirements():
        assert specifier.startswith("=="), f"{name}: direct dependencies are pinned exactly"
        assert packages[name]["version"] == specifier.removeprefix("=="), name


def test_every_locked_artifact_carries_a_hash():
    """A fresh install verifies every download against the lock."""
    for package in lock()["package"]:
        if "editable" in package["source"]:
            continue
        artifacts = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert artifacts, package["name"]
        for artifact in artifacts:
            assert artifact["hash"].startswith("sha256:"), (package["name"], artifact["url"])


def test_uv_is_pinned_once_in_the_makefile_the_lock_and_the_image():
    """The uv that installs the lock is the lock's own uv, in the Makefile and the Dockerfile alike."""
    version = makefile_uv_version()
    assert locked_packages()["uv"]["version"] == version
    assert f"pip install uv=={version}" in (ROOT / "docker" / "Dockerfile").read_text()


def test_the_installed_versions_equal_the_lock():
    """The venv running these tests holds exactly the locked closure (runtime and dev) at the locked
    versions: what CI tests is what the lock pins."""
    expected = closure(frozenset({"dev"}))
    assert {"web3", "aiohttp", "ckzg", "pytest", "certifi"} <= set(expected)
    installed = {}
    for name in expected:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = "missing"
    wrong = {
        name: (installed[name], version) for name, version in expected.items() if installed[name] != version
    }
    assert not wrong, f"installed != uv.lock (installed, locked): {wrong}; run `make setup`"


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def test_uv_finds_the_lock_current_offline(tmp_path: Path):
    """uv itself, without the network, agrees the lock still satisfies pyproject.toml."""
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed beside this interpreter (make setup installs it)")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [uv, "lock", "--check", "--offline", "--python", sys.executable],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

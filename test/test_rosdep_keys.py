# SPDX-License-Identifier: Apache-2.0
"""Every dependency key in our package.xml files is one rosdep can resolve (offline check).

``rosdep install --from-paths`` aborts on the first unknown key (``python3-safetensors-pip`` did).
The key list is vendored from ros/rosdistro (test/data/rosdistro_keys.txt names the commit): the
rosdep/base.yaml and rosdep/python.yaml keys plus the released packages of Humble, Jazzy and
Kilted. Packages of this repository resolve from the workspace itself.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYS_FILE = REPO / "test/data/rosdistro_keys.txt"
DEPEND_TAGS = ("depend", "build_depend", "buildtool_depend", "exec_depend", "test_depend",
               "build_export_depend", "buildtool_export_depend", "doc_depend")


def package_files() -> list[Path]:
    """The package.xml files rosdep/colcon find from the repository root (ignore markers honoured)."""
    found = []
    for path in sorted(REPO.rglob("package.xml")):
        parts = path.relative_to(REPO).parts
        if parts[0] in ("build", "install", "log", ".venv"):
            continue
        if any((REPO.joinpath(*parts[:i]) / marker).exists() for i in range(1, len(parts))
               for marker in ("COLCON_IGNORE", "CATKIN_IGNORE", "AMENT_IGNORE")):
            continue
        found.append(path)
    return found


def rosdistro_keys() -> set[str]:
    return {line.strip() for line in KEYS_FILE.read_text().splitlines() if line.strip() and not line.startswith("#")}


def test_the_key_list_names_its_source_commit():
    header = KEYS_FILE.read_text().splitlines()[:3]
    assert any("github.com/ros/rosdistro" in line for line in header)
    assert any(re.fullmatch(r"[0-9a-f]{40}", word.strip(":,.")) for line in header
               for word in line.split())


@pytest.mark.parametrize("package_xml", package_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_dependency_key_resolves(package_xml):
    ours = {ET.parse(p).getroot().findtext("name") for p in package_files()}
    keys = rosdistro_keys()
    root = ET.parse(package_xml).getroot()
    unknown = [(e.tag, e.text) for tag in DEPEND_TAGS for e in root.iter(tag)
               if e.text not in keys and e.text not in ours]
    assert not unknown, f"{package_xml.relative_to(REPO)}: not rosdep keys: {unknown}"


def test_the_documented_from_paths_find_both_packages(tmp_path):
    """rosdep (catkin_pkg) stops at a package folder: docs/ROBOTS.md's --from-paths name both."""
    packages = pytest.importorskip("catkin_pkg.packages", reason="catkin_pkg comes with ros2cli-kit / rosdep")
    src = tmp_path / "src"
    src.mkdir()
    (src / "cosmos_policy_ros").symlink_to(REPO, target_is_directory=True)
    line = next(l for l in (REPO / "docs/ROBOTS.md").read_text().splitlines() if l.startswith("rosdep install"))
    paths = line.split("--from-paths", 1)[1].split("--")[0].split()
    found = {pkg.name for path in paths for pkg in packages.find_packages(str(tmp_path / path)).values()}
    assert found == {"cosmos_policy_ros", "cosmos_policy_msgs"}

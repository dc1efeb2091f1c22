# SPDX-License-Identifier: Apache-2.0
"""Point the ROS wheels' CMake exports at this interpreter's include folders.

The ros-kilted-* wheels were built in a manylinux container and export its absolute
Python/NumPy include paths (/opt/python/cp3X-cp3X/...) into every message package's
CMake config, which breaks building any interface package against them. Idempotent.
"""
import pathlib
import re
import sys
import sysconfig

import numpy

PY_INCLUDE = sysconfig.get_paths()["include"]
NP_INCLUDE = numpy.get_include()
NUMPY_PATTERN = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(_core|core)/include")
PYTHON_PATTERN = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")


def main() -> int:
    fixed = 0
    for path in sorted((pathlib.Path(sys.prefix) / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" in text:
            path.write_text(PYTHON_PATTERN.sub(PY_INCLUDE, NUMPY_PATTERN.sub(NP_INCLUDE, text)))
            fixed += 1
    print(f"[setup] fixed {fixed} ROS wheel CMake files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

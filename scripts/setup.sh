#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Idempotent set-up of cosmos_policy_ros; both README commands run it first.
#
#   * A sourced ROS 2 whose rclpy imports  -> venv with system site packages, system colcon,
#     cosmos_policy_msgs built into install/ (source scripts/env.sh to use it).
#   * No ROS 2                              -> venv with the ROS 2 Kilted Python wheels; the
#     interface package is built with colcon straight into the venv, so activating the
#     venv is all a user needs.
#
# Environment:
#   COSMOS_VENV   venv folder (default: <repo>/.venv)
#   COSMOS_TORCH  cpu (default) | cuda   -- pip never pulls a CUDA torch unless asked here
#   PYTHON        interpreter used to create the venv (default: python3; 3.10-3.13)
#   COSMOS_ROS_WHEELS  kilted (default) | jazzy: which ROS 2 wheel set a venv without a sourced
#                 ROS 2 gets (requirements/ros-wheels.txt | ros-wheels-jazzy.txt); one venv per set
# Flags:
#   --force       redo every step even when nothing changed
#   --relock      rewrite requirements/lock.txt from the venv after installing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${COSMOS_VENV:-$ROOT/.venv}"
# Absolute, relative to the caller's directory: colcon and CMake run in their own build folders,
# where a relative -DPython3_EXECUTABLE / PATH entry names nothing and CMake falls back to the
# system python (`No module named 'ament_package'` on a clean clone with COSMOS_VENV=.venv-jazzy).
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
TORCH_VARIANT="${COSMOS_TORCH:-cpu}"
ROS_WHEELS="${COSMOS_ROS_WHEELS:-kilted}"
TORCH_VERSION="2.13.0"
PYTHON="${PYTHON:-python3}"
FORCE=0
RELOCK=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --relock) RELOCK=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (use --force or --relock)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

case "$TORCH_VARIANT" in cpu|cuda) ;; *) die "COSMOS_TORCH must be 'cpu' or 'cuda', got '$TORCH_VARIANT'" ;; esac
case "$ROS_WHEELS" in
  kilted) WHEELS_FILE="$ROOT/requirements/ros-wheels.txt" ;;
  jazzy) WHEELS_FILE="$ROOT/requirements/ros-wheels-jazzy.txt" ;;
  *) die "COSMOS_ROS_WHEELS must be 'kilted' or 'jazzy', got '$ROS_WHEELS'" ;;
esac

# --- 1. Which ROS 2? -----------------------------------------------------------------------
ROS_MODE=wheels
if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  ROS_MODE=system
fi

# --- 2. Nothing changed? -------------------------------------------------------------------
inputs_hash() {
  (
    cd "$ROOT"
    echo "$ROS_MODE $ROS_WHEELS $TORCH_VARIANT $TORCH_VERSION $("$PYTHON" -c 'import sys; print(sys.version)')"
    cat requirements/lock.txt "$WHEELS_FILE" setup.py setup.cfg package.xml scripts/setup.sh
    find cosmos_policy_msgs third_party -type f | LC_ALL=C sort | xargs cat
  ) | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.cosmos_setup_stamp"
HASH="$(inputs_hash)"
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  exit 0
fi
say "setting up ($ROS_MODE ROS 2, $TORCH_VARIANT torch) in $VENV"

# --- 3. The venv ---------------------------------------------------------------------------
"$PYTHON" -c 'import sys; assert (3, 10) <= sys.version_info[:2] <= (3, 13), sys.version' \
  || die "Python 3.10-3.13 is required (PYTHON=$PYTHON)"
if [ ! -x "$VENV/bin/python" ]; then
  if [ "$ROS_MODE" = system ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

# --- 4. torch first, pinned, so nothing later can drag in a CUDA build ------------------------
if "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  :  # already installed (the variant check below still runs)
elif [ "$TORCH_VARIANT" = cpu ]; then
  # Which build would plain pip take? A local wheel cache (find-links) may already hold the CPU
  # build; otherwise the CPU wheel comes from PyTorch's own index (PyPI's linux wheel is CUDA).
  # Asking first avoids waiting on an index this machine cannot reach.
  candidate="$("$PY" -m pip install --dry-run --no-deps -q --report - "torch==$TORCH_VERSION" 2>/dev/null \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' || true)"
  if [[ "$candidate" == *+cpu ]]; then
    "${PIP[@]}" "torch==$candidate"
  else
    "${PIP[@]}" "torch==$TORCH_VERSION" --extra-index-url https://download.pytorch.org/whl/cpu \
      || die "could not install the CPU build of torch==$TORCH_VERSION"
  fi
else
  "${PIP[@]}" "torch==$TORCH_VERSION"
fi
TORCH_PIN="$(mktemp)"
trap 'rm -f "$TORCH_PIN"' EXIT
"$PY" -c 'import torch; print(f"torch=={torch.__version__}")' > "$TORCH_PIN"

# --- 5. Everything else, from the lock ---------------------------------------------------------
LOCK="$ROOT/requirements/lock.txt"
if [ "$ROS_MODE" = wheels ]; then
  "${PIP[@]}" -r "$WHEELS_FILE" -c "$TORCH_PIN"
  if [ "$ROS_WHEELS" != kilted ]; then
    # lock.txt also pins the Python distributions the Kilted wheels bring (rclpy==9.1.2, ...):
    # another wheel set brings its own versions of those, so they are left to it.
    LOCK="$(mktemp)"
    trap 'rm -f "$TORCH_PIN" "$LOCK"' EXIT
    "$PY" - "$ROOT/requirements/lock.txt" "$LOCK" <<'PYEOF'
import re, sys
from importlib import metadata
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in metadata.distributions()}
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for line in src:
        name = re.split(r"[=<>\[ ;]", line.strip(), 1)[0]
        if not line.startswith("#") and re.sub(r"[-_.]+", "-", name).lower() in installed:
            continue
        out.write(line)
PYEOF
  fi
fi
"${PIP[@]}" -r "$LOCK" -c "$TORCH_PIN"
if [ "$TORCH_VARIANT" = cpu ] && ! "$PY" -c 'import torch, sys; sys.exit(torch.version.cuda is not None)'; then
  die "torch in $VENV is a CUDA build; remove the venv or set COSMOS_TORCH=cuda"
fi
if [ "$TORCH_VARIANT" = cpu ] && "$PY" -m pip list 2>/dev/null | grep -qiE '^(nvidia-|triton )'; then
  die "a CUDA package slipped into the CPU venv: $("$PY" -m pip list | grep -iE '^(nvidia-|triton )' | tr '\n' ' ')"
fi

# --- 6. cosmos_policy_msgs, and the robot stacks' interfaces the ROS 2 in use lacks ----------
# control_msgs (FollowJointTrajectory, GripperCommand) and interbotix_xs_msgs (Trossen's ALOHA
# driver) are no PyPI wheels; third_party/ holds the definitions we use, verbatim from their
# repositories (commits in each file). They are built with cosmos_policy_msgs, only where missing:
# a sourced ROS 2 that ships them keeps its own. One colcon call builds them side by side.
mkdir -p "$ROOT/build"
# CMake caches hold the venv's paths and the checkout's: one build folder per venv and checkout (a
# Kilted and a Jazzy venv side by side would otherwise link one's typesupport against the other's
# Fast CDR; a venv reused from another worktree kept a cache whose source folder no longer existed).
WHEELS_BUILD="$VENV/.colcon-build/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
INTERFACES=(cosmos_policy_msgs)
THIRD_PARTY=()
for iface in control_msgs interbotix_xs_msgs; do
  if "$PY" -c "import importlib, sys; importlib.import_module('$iface.msg')" >/dev/null 2>&1 \
      && ! grep -qx "$iface" "$VENV/.cosmos_third_party" 2>/dev/null; then
    continue  # provided by the user's ROS 2
  fi
  INTERFACES+=("third_party/$iface")
  THIRD_PARTY+=("$iface")
done
(
  cd "$ROOT"
  if [ "$ROS_MODE" = wheels ]; then
    # The wheels' CMake exports hard-code the build container's Python paths (ROS_WHEELS.md 3.2).
    "$PY" "$ROOT/scripts/fix_ros_wheel_cmake.py"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
    "$VENV/bin/colcon" --log-base build/colcon-log build --base-paths "${INTERFACES[@]}" \
      --build-base "$WHEELS_BUILD" --install-base "$VENV" --merge-install \
      --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF >build/colcon.log 2>&1
  else
    colcon --log-base build/colcon-log build --base-paths "${INTERFACES[@]}" --build-base build \
      --install-base install --merge-install --cmake-args -DBUILD_TESTING=OFF >build/colcon.log 2>&1
  fi
) || { tail -40 "$ROOT/build/colcon.log" >&2; die "colcon build of ${INTERFACES[*]} failed (log: build/colcon.log)"; }
for iface in "${THIRD_PARTY[@]}"; do
  grep -qx "$iface" "$VENV/.cosmos_third_party" 2>/dev/null || echo "$iface" >> "$VENV/.cosmos_third_party"
done

# --- 7. The package itself, editable ---------------------------------------------------------
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

# --- 8. Check it works -----------------------------------------------------------------------
if [ "$ROS_MODE" = wheels ]; then
  ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST "$PY" -c \
    'import rclpy, cosmos_policy_msgs.msg, cosmos_policy_msgs.srv, control_msgs.action, interbotix_xs_msgs.msg, cosmos_policy_ros, torch, diffusers, mujoco' \
    || die "the set-up venv cannot import the suite"
fi
if [ "$RELOCK" = 1 ]; then
  {
    echo "# Exact versions the project is tested with (pip freeze of a set-up venv, torch pinned separately)."
    echo "# Regenerate: scripts/setup.sh --relock"
    "$PY" -m pip freeze --exclude-editable | grep -vE '^(ros-|torch==)'
  } > "$ROOT/requirements/lock.txt"
  HASH="$(inputs_hash)"
fi
echo "$ROS_MODE" > "$VENV/.cosmos_ros_mode"
echo "$HASH" > "$STAMP"
say "done"

# SPDX-License-Identifier: Apache-2.0
# Source this to use the set-up environment in a shell:  . scripts/env.sh
_cosmos_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_cosmos_venv="${COSMOS_VENV:-$_cosmos_root/.venv}"
if [ "$(cat "$_cosmos_venv/.cosmos_ros_mode" 2>/dev/null)" = system ] && [ -f "$_cosmos_root/install/setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$_cosmos_root/install/setup.bash"
fi
# shellcheck disable=SC1091
. "$_cosmos_venv/bin/activate"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
unset _cosmos_root _cosmos_venv

# SPDX-License-Identifier: Apache-2.0
"""Subcommands of ``cosmos-policy`` (one module each: HELP, add_arguments, run)."""

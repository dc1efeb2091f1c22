# SPDX-License-Identifier: Apache-2.0
"""The ``cosmos-policy`` command (subcommands are registered in SUBCOMMANDS)."""
import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cosmos-policy", description=__doc__)
    parser.add_subparsers(dest="command", required=True)
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

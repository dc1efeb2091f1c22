# SPDX-License-Identifier: Apache-2.0
"""Where the tests' reference files are: copies in ``test/fixtures`` (see its README), so no test
needs CI's ``../shared``. ``UPSTREAM_FIXTURES`` overrides the upstream folder.
Importable as ``fixture_paths``: pytest puts ``test/`` on sys.path.
"""
from __future__ import annotations

import os
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UPSTREAM_FIXTURES = Path(os.environ.get("UPSTREAM_FIXTURES", FIXTURES / "upstream"))
OFFICIAL_DIT_KEYS = FIXTURES / "spec" / "official_dit_keys.tsv"
# CI's originals, beside the clone (absent elsewhere): the copies above must match them.
SHARED = Path(__file__).resolve().parents[2] / "shared"
COPIED_FROM_SHARED = {FIXTURES / "upstream": SHARED / "fixtures" / "upstream",
                      OFFICIAL_DIT_KEYS: SHARED / "spec" / "official_dit_keys.tsv"}

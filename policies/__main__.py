"""Entry point the Pulumi CLI runs for ``--policy-pack policies``: serve the pack.

The CLI starts this file with the pack's own folder first on the import path. The rules are
imported as the ``policies`` package of the project around it instead (which also holds the
``dr.settings`` they read), so that no rule module shadows a top-level module.
"""

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != PACK_DIR]
sys.path.insert(0, str(PACK_DIR.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policies import rules  # noqa: E402

PolicyPack(
    name=rules.PACK_NAME,
    description=rules.PACK_DESCRIPTION,
    enforcement_level=rules.PACK_ENFORCEMENT,
    policies=rules.POLICIES,
)

"""`invoke policy`: the policy pack over both stacks, offline (thin command line over
policies.check)."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit, task

from dr.settings import STACKS, SettingsError, load_pair
from policies import check, policy_config

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGETS = ("lab", "aws")


@task(help={
    "stack": "primary or secondary (default: both)",
    "config": "policy config JSON, the same file `pulumi preview --policy-pack-config` takes",
    "target": "lab or aws; the check runs the program under mocks and touches neither",
    "project-dir": "where Pulumi.yaml and the stack files are (default: this checkout)",
})
def policy(c, stack=None, config=None, target=None, project_dir=None):
    """Check the DR policy pack on the stacks; fails on a mandatory violation."""
    kind = target or c.config.get("shopsmart", {}).get("target", "lab")
    if kind not in TARGETS:
        raise Exit(f"policy: unknown target {kind!r}: use lab or aws", 2)
    if stack is not None and stack not in STACKS:
        raise Exit(f"policy: unknown stack {stack!r}: use {' or '.join(STACKS)}", 2)

    try:
        settings = policy_config.load(config) if config else {}
        directory = Path(project_dir) if project_dir else PROJECT_DIR
        load_pair(directory)  # each stack is judged alone, so first check them together
        verdicts = [check.check_stack(name, directory, settings)
                    for name in ([stack] if stack else STACKS)]
    except (SettingsError, policy_config.PolicyConfigError) as error:
        raise Exit(f"policy: {error}", 2) from None

    for verdict in verdicts:
        print(check.render(verdict))
    blocking = [v for verdict in verdicts for v in verdict.mandatory]
    if blocking:
        stacks = sorted({verdict.stack for verdict in verdicts if verdict.mandatory})
        raise Exit(f"policy: {len(blocking)} mandatory violation(s) in {', '.join(stacks)};"
                   " fix them before `pulumi up`", 1)

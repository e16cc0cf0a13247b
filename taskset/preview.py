"""`invoke preview`: what a stack would declare, from the real program run offline."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit, task

from dr.settings import SettingsError, load_pair

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("lab", "aws")


@task(help={
    "stack": "primary or secondary",
    "json": "print JSON (every resource with its inputs and options) instead of a table",
    "project-dir": "where Pulumi.yaml and the stack files are (default: this checkout)",
    "target": "lab or aws; the preview runs the program under mocks and touches neither",
})
def preview(c, stack="primary", json=False, project_dir=None, target=None):
    """Show the resources a stack declares (offline: Pulumi mocks, no CLI, no AWS)."""
    kind = target or c.config.get("shopsmart", {}).get("target", "lab")
    if kind not in TARGETS:
        raise Exit(f"preview: unknown target {kind!r}: use lab or aws", 2)
    # Imported here: Pulumi's runtime would slow every `invoke --list`.
    from infra import summary
    from infra.offline import run_stack

    directory = Path(project_dir) if project_dir else ROOT
    try:
        load_pair(directory)  # both stack files, checked against each other
        recording = run_stack(stack, directory)
    except SettingsError as err:
        raise Exit(str(err), 2) from None
    print(summary.as_json(recording) if json else summary.as_table(recording))

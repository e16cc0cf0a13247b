"""`invoke preview`: what a stack would declare, from the real program run offline."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit, task

from dr.settings import SettingsError, load_pair
from infra import summary
from infra.offline import ROOT, run_stack


@task(help={
    "stack": "primary or secondary",
    "json": "print JSON (every resource with its inputs and options) instead of a table",
    "project-dir": "where Pulumi.yaml and the stack files are (default: this checkout)",
})
def preview(c, stack="primary", json=False, project_dir=None):
    """Show the resources a stack declares (offline: Pulumi mocks, no CLI, no AWS)."""
    directory = Path(project_dir) if project_dir else ROOT
    try:
        load_pair(directory)  # both stack files, checked against each other
        recording = run_stack(stack, directory)
    except SettingsError as err:
        raise Exit(str(err), 2) from None
    print(summary.as_json(recording) if json else summary.as_table(recording))

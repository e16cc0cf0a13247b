"""Making the stack files say which region is primary, after reality already does.

Only the two ``shopsmart:role:`` lines change: the edit is made on the text, so comments,
order, quoting and line endings stay byte for byte. Both files are checked with
``dr.settings`` before and after; each is written to a temporary file first and then renamed
over the original, with a ``.bak`` copy of the original beside it. The file losing the
primary role is renamed first and a marker file records the flip in flight, so a crash
between the two renames leaves "neither is primary" plus the marker, and the next call with
the same region finishes the flip; any other invalid state is refused with nothing changed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from dr import settings
from dr.settings import SettingsError, StackSettings

logger = logging.getLogger(__name__)

MARKER = ".role-flip.json"
ROLE_LINE = re.compile(
    r"^(?P<head>[ \t]*shopsmart:role:[ \t]*)(?P<quote>[\"']?)(?P<role>primary|secondary)"
    r"(?P=quote)(?P<tail>[^\S\n]*(?:#[^\n]*)?)$",
    re.MULTILINE,
)


class StackFileError(RuntimeError):
    """Base of the role flip's errors."""


class RoleFlipRefused(StackFileError):
    """The stack files are not in a state a flip may start from; nothing was changed."""


class RoleFlipFailed(StackFileError):
    """Writing the files failed; the originals were put back."""


@dataclass(frozen=True)
class RoleFlip:
    """The result: ``changed`` False means the files already said so (nothing written)."""

    changed: bool
    primary_region: str
    roles_before: dict[str, str]
    roles_after: dict[str, str]
    files: tuple[str, ...]
    backups: tuple[str, ...]

    def summary(self) -> str:
        if not self.changed:
            return f"stack files already say {self.primary_region} is primary; nothing written"
        moves = ", ".join(f"{stack}: {self.roles_before[stack]} → {self.roles_after[stack]}"
                          for stack in sorted(self.roles_after))
        return f"stack files now say {self.primary_region} is primary ({moves})"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def assign_primary(project_dir: Path | str, region: str) -> RoleFlip:
    """Make the stack file of ``region`` say primary and the other one say secondary."""
    project = Path(project_dir)
    marker = project / MARKER
    finishing = _pending(marker) == region
    stacks = _load(project, allow_no_primary=finishing)
    chosen = [s for s in stacks if s.region == region]
    if not chosen:
        raise RoleFlipRefused(
            f"neither stack file deploys to {region} (found"
            f" {', '.join(f'{s.origin}: {s.region}' for s in stacks)}); nothing was changed"
        )
    before = {s.stack: s.role for s in stacks}
    after = {s.stack: "primary" if s.region == region else "secondary" for s in stacks}
    paths = tuple(str(settings.stack_file(project, s.stack)) for s in stacks)
    backups = tuple(f"{path}.bak" for path in paths)
    if before == after:
        marker.unlink(missing_ok=True)
        logger.info("stack files already say %s is primary; nothing written", region)
        return RoleFlip(False, region, before, after, paths, ())

    # The stack losing the role goes first: a crash in between leaves no primary, never two.
    order = sorted(stacks, key=lambda s: after[s.stack] == "primary")
    texts = {s.stack: _edited(project, s, after[s.stack]) for s in order}
    _write_all(project, order, texts, marker, region, keep_backups=finishing)
    _check_after(project, order, stacks, after)
    marker.unlink(missing_ok=True)
    _fsync_dir(project)
    flip = RoleFlip(True, region, before, after, paths, backups)
    logger.info("%s", flip.summary())
    return flip


def flip_roles(project_dir: Path | str) -> RoleFlip:
    """Swap the roles: the region that is secondary becomes primary (not idempotent)."""
    pair = _pair_or_refuse(Path(project_dir))
    return assign_primary(project_dir, pair.secondary.region)


def role_lines(text: str) -> list[str]:
    return [match.group(0) for match in ROLE_LINE.finditer(text)]


# --- inside --------------------------------------------------------------------------------

def _load(project: Path, allow_no_primary: bool) -> list[StackSettings]:
    if not allow_no_primary:
        pair = _pair_or_refuse(project)
        return [pair.primary, pair.secondary] if pair.primary.stack == "primary" else [
            pair.secondary, pair.primary]
    stacks = []
    for name in settings.STACKS:
        try:
            stacks.append(settings.load_stack_file(settings.stack_file(project, name)))
        except SettingsError as error:
            raise RoleFlipRefused(f"{error}; nothing was changed") from None
    if sum(s.is_primary for s in stacks) > 1:
        raise RoleFlipRefused("both stack files claim role primary; nothing was changed")
    logger.warning("finishing a role flip that was interrupted between its two renames")
    return stacks


def _pair_or_refuse(project: Path) -> settings.StackPair:
    try:
        return settings.load_pair(project)
    except SettingsError as error:
        raise RoleFlipRefused(
            f"{error}; nothing was changed. Fix the stack files (see `git diff`) before the"
            " roles can be recorded"
        ) from None


def _edited(project: Path, stack: StackSettings, role: str) -> bytes:
    path = settings.stack_file(project, stack.stack)
    text = path.read_bytes().decode("utf-8")
    matches = list(ROLE_LINE.finditer(text))
    if len(matches) != 1:
        raise RoleFlipRefused(
            f"{path.name}: expected exactly one `shopsmart:role: primary|secondary` line, found"
            f" {len(matches)}; nothing was changed"
        )
    match = matches[0]
    line = f"{match['head']}{match['quote']}{role}{match['quote']}{match['tail']}"
    edited = text[:match.start()] + line + text[match.end():]
    candidate = _parse_text(path, edited, stack.stack)
    if candidate != replace(stack, role=role):
        raise RoleFlipRefused(f"{path.name}: the edit would change more than the role;"
                              " nothing was changed")
    return edited.encode("utf-8")


def _parse_text(path: Path, text: str, stack: str) -> StackSettings:
    # Validate the new text exactly as `settings` would read the file, before it is written.
    probe = path.with_name(f".{path.name}.check")
    probe.write_text(text, encoding="utf-8")
    try:
        config = settings.read_stack_file(probe)
    finally:
        probe.unlink(missing_ok=True)
    values = {key.split(":", 1)[1]: value for key, value in config.items()
              if key.startswith(f"{settings.NAMESPACE}:")}
    return settings.parse(stack, path.name, config.get("aws:region"), values)


def _write_all(project: Path, order: list[StackSettings], texts: dict[str, bytes],
               marker: Path, region: str, keep_backups: bool) -> None:
    paths = {s.stack: settings.stack_file(project, s.stack) for s in order}
    originals = {stack: path.read_bytes() for stack, path in paths.items()}
    temps = {stack: path.with_name(f".{path.name}.tmp") for stack, path in paths.items()}
    try:
        for stack, path in paths.items():
            if not keep_backups or not Path(f"{path}.bak").exists():
                _write_atomic(Path(f"{path}.bak"), originals[stack])
            _write_durable(temps[stack], texts[stack])
        _write_atomic(marker, json.dumps({"primary_region": region}).encode())
    except OSError as error:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise RoleFlipFailed(f"could not prepare the new stack files ({error}); nothing"
                             " was changed") from error
    renamed: list[str] = []
    try:
        for stack in [s.stack for s in order]:
            os.replace(temps[stack], paths[stack])
            renamed.append(stack)
        _fsync_dir(project)
    except OSError as error:
        for stack in renamed:
            _write_atomic(paths[stack], originals[stack])
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
        raise RoleFlipFailed(f"could not replace the stack files ({error}); the originals"
                             " were put back") from error


def _check_after(project: Path, order: list[StackSettings], stacks: list[StackSettings],
                 after: dict[str, str]) -> None:
    try:
        pair = settings.load_pair(project)
        ok = {pair.primary.stack: "primary", pair.secondary.stack: "secondary"} == after
    except SettingsError as error:
        ok, problem = False, str(error)
    else:
        problem = "the roles read back are not the roles written"
    if not ok:  # cannot happen unless the files changed under us: put the originals back
        for stack in stacks:
            backup = Path(f"{settings.stack_file(project, stack.stack)}.bak")
            _write_atomic(settings.stack_file(project, stack.stack), backup.read_bytes())
        raise RoleFlipFailed(f"the flipped stack files did not validate ({problem}); the"
                             " originals were put back")


def _pending(marker: Path) -> str | None:
    try:
        return json.loads(marker.read_text()).get("primary_region")
    except (FileNotFoundError, ValueError):
        return None


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    _write_durable(temp, data)
    os.replace(temp, path)


def _fsync_dir(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)

"""Aurora global database rules: what must hold for a failover to be possible and safe."""

from __future__ import annotations

from pathlib import Path

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from dr import naming, settings
from policies.facts import CLUSTER, GLOBAL_CLUSTER, describe, get, ignores, region_of

DEFAULT_MIN_BACKUP_DAYS = 7

# Inputs that make a cluster the founder of a database; a secondary member inherits all of
# them from the global database and AWS refuses a join that carries them.
CREDENTIAL_INPUTS = (
    "databaseName", "masterUsername", "masterPassword", "masterPasswordWo",
    "manageMasterUserPassword",
)

# Aurora moves these when a global database fails over or switches over; a program that
# re-asserts them would detach or re-point the cluster on the next `pulumi up`.
GLOBAL_MEMBERSHIP_INPUTS = ("globalClusterIdentifier", "replicationSourceIdentifier")

# The project around this pack: the CLI runs the pack from its own folder.
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parent.parent

_DATABASE_TYPES = (CLUSTER, GLOBAL_CLUSTER)


def database_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in _DATABASE_TYPES or args.opts.protect:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} is not protected: a replacement"
        " or `pulumi destroy` would delete the shop's data. Declare it with"
        " ResourceOptions(protect=True).",
        None,
    )


def cluster_deletion_protection(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in _DATABASE_TYPES or get(args.props, "deletionProtection") is True:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} has deletionProtection"
        f" {get(args.props, 'deletionProtection')!r}: AWS would let anyone with the API delete"
        " it. Set deletion_protection=True (shopsmart:db.deletionProtection).",
        None,
    )


def cluster_backup_retention(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != CLUSTER:
        return
    minimum = int(args.get_config().get("minBackupDays", DEFAULT_MIN_BACKUP_DAYS))
    days = get(args.props, "backupRetentionPeriod")
    if days is not None and float(days) >= minimum:
        return
    found = "not set (AWS keeps 1 day)" if days is None else f"{int(float(days))} days"
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} keeps backups {found}, fewer"
        f" than the required {minimum}. Set backup_retention_period to at least {minimum}"
        " (shopsmart:db.backupRetentionDays).",
        None,
    )


def cluster_encrypted_with_kms(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != CLUSTER:
        return
    missing = []
    if get(args.props, "storageEncrypted") is not True:
        missing.append("storage_encrypted=True")
    if not get(args.props, "kmsKeyId"):
        missing.append(f"kms_key_id (a key in the cluster's own region, such as"
                       f" {naming.db_kms_alias('<region>')})")
    if not missing:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} is not encrypted with a KMS key"
        f" of its own: set {' and '.join(missing)}.",
        None,
    )


def cluster_ignores_global_membership(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != CLUSTER or not get(args.props, "globalClusterIdentifier"):
        return
    missing = [prop for prop in GLOBAL_MEMBERSHIP_INPUTS if not ignores(args.opts, prop)]
    if not missing:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} is a global database member"
        f" but does not ignore changes to {', '.join(missing)}: after a failover the next"
        " `pulumi up` would try to move it back or detach it. Add them to"
        " ResourceOptions(ignore_changes=[...]).",
        None,
    )


def _project_dir(config) -> Path:
    return Path(config.get("projectDir") or DEFAULT_PROJECT_DIR)


def _homes(project_dir: Path) -> dict[str, str] | None:
    """Where each stack file says the global database was founded, by file name."""
    try:
        stacks = [settings.load_stack_file(settings.stack_file(project_dir, stack))
                  for stack in settings.STACKS]
    except settings.SettingsError:
        return None  # aurora-engine-matches-across-stacks reports the unreadable file
    return {stack.origin: stack.db.home_region for stack in stacks}


def secondary_cluster_without_credentials(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """A member outside the home region (shopsmart:db.homeRegion) is a secondary.

    A resource validation on purpose: it sees the inputs the program declares, while a stack
    validation sees outputs, where AWS reports the database name a secondary inherits."""
    if args.resource_type != CLUSTER or not get(args.props, "globalClusterIdentifier"):
        return
    homes = _homes(_project_dir(args.get_config()))
    region = region_of(args.props, args.provider)
    if homes is None or region is None:
        return
    carried = [prop for prop in CREDENTIAL_INPUTS if get(args.props, prop) is not None]
    if not carried:
        return
    if len(set(homes.values())) > 1:
        # Each stack would think itself the home: two founders of one global database.
        report_violation(
            f"{describe(args.resource_type, args.name, args.props)} sets"
            f" {', '.join(carried)}, but the stack files disagree on the database's home"
            f" ({', '.join(f'{name}: {home}' for name, home in homes.items())}): both stacks"
            f" would found the global database {get(args.props, 'globalClusterIdentifier')}."
            " Set shopsmart:db.homeRegion to the same region in both stack files.",
            None,
        )
        return
    home = next(iter(homes.values()))
    if region == home:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} joins the global database"
        f" {get(args.props, 'globalClusterIdentifier')} from {region}, outside its home"
        f" region {home}, but sets {', '.join(carried)}: a secondary inherits its database and"
        " master user from the global database. Remove them; they belong to the home stack"
        " (shopsmart:db.homeRegion) only.",
        None,
    )


def aurora_engine_matches_across_stacks(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    project_dir = _project_dir(args.get_config())
    declared = {}
    for stack in settings.STACKS:
        path = settings.stack_file(project_dir, stack)
        try:
            db = settings.load_stack_file(path).db
        except settings.SettingsError as err:
            report_violation(
                f"cannot compare the Aurora engines of both stacks: {err}. Fix {path.name}.",
                None,
            )
            return
        declared[stack] = (db.engine, db.engine_version)

    (first, first_db), (second, second_db) = declared.items()
    if first_db != second_db:
        report_violation(
            f"Pulumi.{first}.yaml declares {first_db[0]} {first_db[1]} but Pulumi.{second}.yaml"
            f" declares {second_db[0]} {second_db[1]}: managed failover needs the same engine"
            " and major/minor version in both regions. Set shopsmart:db.engine and"
            " shopsmart:db.engineVersion to the same values in both stack files.",
            None,
        )
        return

    engine, version = first_db
    for resource in args.resources:
        if resource.resource_type not in _DATABASE_TYPES:
            continue
        found = (get(resource.props, "engine"), get(resource.props, "engineVersion"))
        if found == (engine, version):
            continue
        report_violation(
            f"{describe(resource.resource_type, resource.name, resource.props)} uses engine"
            f" {found[0]} {found[1]} but both stack files declare {engine} {version}: the two"
            " regions would run different engines. Take engine and engine_version from the"
            " stack settings (dr.settings) instead of writing them in the program.",
            resource.urn,
        )

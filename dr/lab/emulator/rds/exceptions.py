"""AWS's RDS error codes for the global-database actions the lab adds, one class per code."""

from __future__ import annotations

from moto.rds.exceptions import RDSClientError


class GlobalClusterNotFoundFault(RDSClientError):
    def __init__(self, identifier: str) -> None:
        super().__init__("GlobalClusterNotFoundFault", f"Global cluster {identifier} not found.")


class DBClusterNotFoundFault(RDSClientError):
    def __init__(self, identifier: str, global_identifier: str | None = None) -> None:
        where = f" in global cluster {global_identifier}" if global_identifier else ""
        super().__init__("DBClusterNotFoundFault", f"DBCluster {identifier} not found{where}.")


class InvalidGlobalClusterStateFault(RDSClientError):
    def __init__(self, identifier: str, status: str, wanted: str = "available") -> None:
        super().__init__(
            "InvalidGlobalClusterStateFault",
            f"Global cluster {identifier} is in {status} state, it must be {wanted}"
            " to perform this operation.",
        )


class InvalidDBClusterStateFault(RDSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidDBClusterStateFault", message)


class InvalidParameterCombination(RDSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterCombination", message)

"""Protocol side of the Route 53 additions.

moto drops a CLOUDWATCH_METRIC check's AlarmIdentifier and InsufficientDataHealthStatus and
answers GetHealthCheckStatus with a fixed "Success"; ``install`` keeps the two fields on
moto's HealthCheck (so GetHealthCheck and ListHealthChecks return them) and answers the
status from the lab's checkers, refusing calculated checks as AWS does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.route53.exceptions import InvalidInput
from moto.route53.models import HealthCheck
from moto.route53.responses import Route53

if TYPE_CHECKING:
    from dr.lab.emulator.route53.checkers import HealthCheckers

_MOTO_CREATE = Route53.create_health_check
_MOTO_UPDATE = Route53.update_health_check
_MOTO_CONFIG = HealthCheck.health_check_config


def install(checkers: "HealthCheckers") -> None:
    def create_health_check(self: Route53) -> ActionResult:
        result = _MOTO_CREATE(self)
        _keep_alarm_fields(result_health_check(result), self._get_param("HealthCheckConfig"))
        return result

    def update_health_check(self: Route53) -> ActionResult:
        result = _MOTO_UPDATE(self)
        _keep_alarm_fields(result_health_check(result), {
            "AlarmIdentifier": self._get_param("AlarmIdentifier"),
            "InsufficientDataHealthStatus": self._get_param("InsufficientDataHealthStatus"),
        })
        return result

    def get_health_check_status(self: Route53) -> ActionResult:
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        if check.type_ == "CALCULATED":
            raise InvalidInput(
                "You can't use GetHealthCheckStatus to get the status of a calculated health"
                " check; read its HealthCheckStatus metric in CloudWatch instead.")
        return ActionResult({"HealthCheckObservations": checkers.observations(check)})

    Route53.create_health_check = create_health_check
    Route53.update_health_check = update_health_check
    Route53.get_health_check_status = get_health_check_status
    HealthCheck.health_check_config = property(_config_with_alarm)
    HealthCheck.alarm_identifier = None
    HealthCheck.insufficient_data_health_status = None


def result_health_check(result: ActionResult) -> HealthCheck:
    return result.result["HealthCheck"]


def _keep_alarm_fields(check: HealthCheck, config: dict[str, Any] | None) -> None:
    config = config or {}
    if config.get("AlarmIdentifier"):
        check.alarm_identifier = dict(config["AlarmIdentifier"])
    if config.get("InsufficientDataHealthStatus"):
        check.insufficient_data_health_status = config["InsufficientDataHealthStatus"]


def _config_with_alarm(self: HealthCheck) -> dict[str, Any]:
    config = _MOTO_CONFIG.fget(self)
    if self.type_ == "CLOUDWATCH_METRIC":
        for key in ("IPAddress", "Port", "RequestInterval", "FailureThreshold",
                    "MeasureLatency"):
            config.pop(key, None)
        config["AlarmIdentifier"] = self.alarm_identifier
        config["InsufficientDataHealthStatus"] = self.insufficient_data_health_status
    return config

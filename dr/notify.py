"""Telling the stakeholders: SNS to the DR topic of the surviving region.

Each notice goes out once, as SNS's per-protocol message: people (email, SMS) read plain
text, machines (the SQS inbox, Lambda, HTTPS) read the same notice as a JSON document, and
every delivery carries ``kind``, ``procedure`` and ``run_id`` as message attributes so a
subscription can filter on them. A notification that cannot be sent is logged and returned
as a failed ``Delivery``, never raised: telling people must not stop a failover.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from dr import naming
from dr.aws import Target, error_code, is_unreachable
from dr.journal import now_iso

logger = logging.getLogger(__name__)

KINDS = ("started", "progress", "complete", "failed")
SUBJECT_LIMIT = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks
MACHINE_PROTOCOLS = ("sqs", "lambda", "http", "https", "email-json")


@dataclass(frozen=True)
class Notice:
    """One message to the stakeholders.

    kind: ``started``, ``progress``, ``complete`` or ``failed``.
    summary: the one sentence that matters ("us-west-2 now serves the shop").
    details: further lines for people, in order.
    classification: the incident class (``major``, ``partial``, ``minor``) when known.
    evidence: a one-line summary of the evidence ("3 of 4 signals agree").
    failing_step, error: for ``failed``: the step that stopped the run and why.
    facts: anything else machines should get (regions, lag, RTO so far), JSON-able.
    """

    kind: str
    procedure: str
    run_id: str
    subject: str
    summary: str
    details: tuple[str, ...] = ()
    classification: str | None = None
    evidence: str | None = None
    failing_step: str | None = None
    error: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"notice kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    def text(self) -> str:
        """The message as people read it."""
        lines = [self.summary, ""]
        lines += list(self.details)
        for label, value in (("Classification", self.classification),
                             ("Evidence", self.evidence), ("Failing step", self.failing_step),
                             ("Error", self.error)):
            if value:
                lines.append(f"{label}: {value}")
        lines.append(f"Run: {self.run_id} ({self.procedure})")
        return "\n".join(lines).strip() + "\n"

    def document(self) -> dict[str, Any]:
        """The message as machines read it."""
        body = asdict(self)
        body["details"] = list(self.details)
        body["facts"] = dict(self.facts)
        return body


@dataclass(frozen=True)
class Delivery:
    """What became of a notice; put ``to_dict()`` into the step's result to record it."""

    sent: bool
    topic: str
    region: str
    message_id: str | None = None
    error: str | None = None
    at: str = field(default_factory=now_iso)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Notifier:
    """Publishes notices to ``naming.topic_name(region)`` in ``region`` (the survivor's).

    client: an SNS client (tests inject their own); else made from ``target``.
    topic_arn: skips the lookup by name (``ListTopics``) when known.
    """

    def __init__(self, region: str, *, client: Any = None, target: Target | None = None,
                 topic_arn: str | None = None) -> None:
        if client is None and target is None:
            raise ValueError("Notifier needs an SNS client or a target")
        self.region = region
        self.topic = naming.topic_name(region)
        self.client = client or target.client("sns", region)
        self._arn = topic_arn

    def publish(self, notice: Notice) -> Delivery:
        """Send ``notice``; on any failure log it and return ``Delivery(sent=False)``."""
        try:
            arn = self._topic_arn()
            reply = self.client.publish(
                TopicArn=arn, Subject=subject_line(notice.subject),
                Message=json.dumps(_per_protocol(notice)), MessageStructure="json",
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in (("kind", notice.kind), ("procedure", notice.procedure),
                                        ("run_id", notice.run_id))
                },
            )
        except Exception as error:  # any failure to notify is recorded, never raised
            reason = _reason(error)
            logger.error("could not notify the stakeholders on %s in %s (%s): %s", self.topic,
                         self.region, notice.kind, reason)
            return Delivery(False, self.topic, self.region, error=reason)
        logger.info("notified the stakeholders on %s in %s: %s", self.topic, self.region,
                    notice.subject)
        return Delivery(True, self.topic, self.region, message_id=reply.get("MessageId"))

    def _topic_arn(self) -> str:
        if self._arn:
            return self._arn
        token: str | None = None
        for _ in range(100):  # 100 pages of 100 topics: more than any account holds
            reply = self.client.list_topics(**({"NextToken": token} if token else {}))
            for topic in reply.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == self.topic:
                    self._arn = topic["TopicArn"]
                    return self._arn
            token = reply.get("NextToken")
            if not token:
                break
        raise LookupError(f"topic {self.topic} does not exist in {self.region}; it is part of"
                          " the region's stack (pulumi up)")


def subject_line(text: str) -> str:
    """``text`` as SNS accepts a subject: printable ASCII, one line, under 100 characters."""
    plain = text.replace("→", "->").replace("—", "-").replace("–", "-")
    plain = re.sub(r"[^\x20-\x7e]", "?", " ".join(plain.split()))
    return plain if len(plain) <= SUBJECT_LIMIT else plain[:SUBJECT_LIMIT - 3] + "..."


def _per_protocol(notice: Notice) -> dict[str, str]:
    document = json.dumps(notice.document(), sort_keys=True)
    return {"default": notice.text(), **{protocol: document for protocol in MACHINE_PROTOCOLS}}


def _reason(error: BaseException) -> str:
    if is_unreachable(error):
        return f"the SNS endpoint did not answer ({type(error).__name__})"
    code = error_code(error)
    return f"{code}: {error}" if code else str(error) or type(error).__name__

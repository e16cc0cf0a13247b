"""Error replies in the wire protocol the caller speaks, for faults injected before moto.

botocore picks its parser from the service model (query XML, EC2 XML, REST-XML, JSON,
Smithy RPCv2 CBOR); an injected error must parse to the same code a real AWS error would,
so the caller's retry and classification logic runs exactly as against AWS.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Mapping
from xml.sax.saxutils import escape

Reply = tuple[str, list[tuple[str, str]], bytes]

_REASONS = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_reply(environ: Mapping[str, Any], service: str | None, status: int, code: str,
                message: str) -> Reply:
    """(status line, headers, body) of an AWS error for the request in ``environ``."""
    request_id = str(uuid.uuid4())
    content_type = environ.get("CONTENT_TYPE", "")
    headers = [("x-amzn-RequestId", request_id)]
    if "cbor" in content_type or environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
        body = _cbor_text_map({"__type": code, "message": message})
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    elif "x-amz-json" in content_type:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
    elif service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    else:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {_REASONS.get(status, 'Error')}", headers, body


def _cbor_text_map(values: Mapping[str, str]) -> bytes:
    """CBOR (RFC 8949) encoding of a map of text strings: all an error body needs."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return bytes(out)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    if length < 65536:
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + length.to_bytes(4, "big")

"""The pack as the Pulumi CLI runs it: a server process spoken to over the analyzer gRPC
protocol, so the tests see what `pulumi preview --policy-pack policies` would report."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_START_TIMEOUT_S = 30


@contextmanager
def serve(pack_dir: Path) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack's analyzer server, started the way the CLI starts a Python pack
    (``python -m pulumi.policy <engine> <pack dir>``) and stopped by its PID."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)  # the pack must find the project by itself
    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=pack_dir, env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
    )
    try:
        port = _read_port(process, errors)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=PACK_START_TIMEOUT_S)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        errors.close()


def _read_port(process: subprocess.Popen, errors) -> int:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + PACK_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline().strip()
            if line.isdigit():
                return int(line)
            if not line and process.poll() is not None:
                break
    errors.seek(0)
    raise AssertionError(f"the pack did not print its port; its stderr: {errors.read()}")


def analyze(pack: analyzer_pb2_grpc.AnalyzerStub, resources, config: dict | None = None
            ) -> set[tuple[str, str, str]]:
    """(policy, urn, enforcement) of every violation the served pack reports for a stack."""
    policy_config = {}
    for name, settings in (config or {}).items():
        # The CLI sends each configured policy with its effective level: all are mandatory.
        entry = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY)
        entry.properties.update(settings)
        policy_config[name] = entry
    pack.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config))

    found = set()
    for resource in resources:
        reply = pack.Analyze(analyzer_pb2.AnalyzeRequest(
            type=resource.type, urn=resource.urn, name=resource.name,
            properties=_struct(resource.inputs), options=_options(resource),
            provider=_provider(resource)))
        found |= _violations(reply, default_urn=resource.urn)
    stack = [analyzer_pb2.AnalyzerResource(
        type=r.type, urn=r.urn, name=r.name, properties=_struct(r.inputs),
        options=_options(r), provider=_provider(r), parent=r.parent or "")
        for r in resources]
    found |= _violations(pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack)))
    return found


def info(pack: analyzer_pb2_grpc.AnalyzerStub) -> analyzer_pb2.AnalyzerInfo:
    return pack.GetAnalyzerInfo(empty_pb2.Empty())


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _options(resource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect, ignoreChanges=list(resource.ignore_changes),
        parent=resource.parent or "")


def _provider(resource) -> analyzer_pb2.AnalyzerProviderResource:
    urn = resource.provider or ""
    return analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws", urn=urn, name=urn.rsplit("::", 1)[-1],
        properties=_struct({"region": resource.region} if resource.region else {}))


_LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory"}


def _violations(reply, default_urn: str = "") -> set[tuple[str, str, str]]:
    return {(d.policyName, d.urn or default_urn, _LEVELS.get(d.enforcementLevel, "?"))
            for d in reply.diagnostics}

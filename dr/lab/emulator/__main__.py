"""The emulator process: ``python -m dr.lab.emulator --host H --port P --lab-dir D
--time-scale S``. It serves until SIGTERM or SIGINT, then stops its loops and exits 0."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from dr.lab import config as lab_config
from dr.lab.emulator import Emulator
from dr.lab.hooks import DataPlane
from dr.lab.timing import Timing

logger = logging.getLogger("dr.lab.emulator")


class QuietHandler(MotoRequestHandler):
    """Request lines at DEBUG: a drill makes thousands of calls."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        logger.debug('"%s" %s %s', self.requestline, code, size)


def build_dataplane(spec: str | None, config: lab_config.LabConfig | None) -> DataPlane | None:
    """The data plane named by ``module:callable`` (called with the LabConfig), or None."""
    if not spec or config is None:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dr.lab.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5566)
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    config = lab_config.read(args.lab_dir)
    emulator = Emulator(Timing(args.time_scale), config,
                        build_dataplane(config.dataplane if config else None, config))
    try:
        server = make_server(args.host, args.port, emulator, threaded=True,
                             request_handler=QuietHandler)
    except OSError as err:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, err)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start_background()
    logger.info("emulator listening on http://%s:%s (time scale %s)", args.host, args.port,
                args.time_scale)
    server.serve_forever(poll_interval=0.2)
    emulator.stop()
    server.server_close()
    logger.info("emulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

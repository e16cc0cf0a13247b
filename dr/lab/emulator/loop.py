"""A background loop of the emulator: one tick per interval, bounded in time.

Every loop stops when the emulator stops and, at the latest, after ``max_ticks`` ticks, so
an emulator left running by accident winds its background work down by itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

logger = logging.getLogger(__name__)

MAX_TICKS = 2_000_000  # about 23 days of ticks at 1 s: far beyond any lab run


class PeriodicLoop:
    """Subclasses pass their tick; ``start`` runs it in a daemon thread."""

    def __init__(self, name: str, interval_s: Callable[[], float], tick: Callable[[], None],
                 stopping: threading.Event, max_ticks: int = MAX_TICKS) -> None:
        self.name = name
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._interval_s = interval_s
        self._tick = tick
        self._stopping = stopping
        self._max_ticks = max_ticks

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        for _ in range(self._max_ticks):
            if self._stopping.wait(self._interval_s()):
                return
            try:
                self._tick()
            except Exception:  # one bad tick must not end the loop
                logger.exception("%s tick failed", self.name)
        logger.warning("%s stopped after %d ticks", self.name, self._max_ticks)

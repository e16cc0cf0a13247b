"""Wall time of one offline run of the Pulumi program per stack, and its resource count.

    .venv/bin/python bench/program.py [--repeat N]

The first run of the process pays for importing the pulumi_aws modules the program uses;
later runs show the cost of the program itself under mocks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.offline import run_stack  # noqa: E402

STACKS = ("primary", "secondary")


def timed(stack: str) -> tuple[float, int]:
    started = time.perf_counter()
    recording = run_stack(stack)
    return time.perf_counter() - started, len(recording.resources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per stack (1-50)")
    repeat = min(max(parser.parse_args().repeat, 1), 50)

    first = {stack: timed(stack) for stack in STACKS}
    print(f"{'stack':<10} {'resources':>9} {'first run':>10} {'warm median':>12} {'warm max':>9}")
    for stack in STACKS:
        warm = [timed(stack)[0] for _ in range(repeat)]
        seconds, count = first[stack]
        print(f"{stack:<10} {count:>9} {seconds:>9.2f}s {statistics.median(warm):>11.2f}s"
              f" {max(warm):>8.2f}s")


if __name__ == "__main__":
    main()

"""Log masking on hostile input: time of ``notifier.privacy.mask_text`` per field, by size.

    python bench/bench_masking.py                 # 60,000 characters, every shape
    python bench/bench_masking.py --sizes 1000 10000 100000

Each shape is one a backtracking matcher retries from every position (digits and
separators, ``a@a@...``, long local parts). The scanner is linear, so ten times the size
should cost about ten times the time, and a 60,000-character field a few tens of milliseconds
on a busy 2-core machine (the regex it replaced took 2.8 s on one of these shapes).
"""

from __future__ import annotations

import argparse
import json
import time

from notifier.privacy import mask_text

SHAPES = {
    "digits-and-spaces": "1 ",
    "open-parens": "(1",
    "digits-and-dashes": "1-",
    "at-signs": "a@",
    "dotted-local-part": "a.",
    "phone-numbers": "617 555 4567 ",
    "emails": "x@example.org ",
    "letters": "a",
}


def best_of(text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        mask_text(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6_000, 60_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = []
    for name, unit in SHAPES.items():
        for size in args.sizes:
            text = (unit * (size // len(unit) + 1))[:size]
            seconds = best_of(text, args.runs)
            results.append({"shape": name, "chars": size, "ms": round(seconds * 1000, 2)})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""How fast `minigpt train` and `minigpt sample` run at each CPU thread count.

Each command runs as its user runs it, in a fresh process, with `--threads 1`, `2`, … up to
the number of cores, the thread counts taking turns (round-robin) `--rounds` times; the
report gives the best and the median wall-clock time of each and the load average, which
says how busy the machine was (on a busy machine more threads can be much slower, because
each parallel step waits for its slowest thread). This is what chose the CLI's defaults,
`minigpt.cli.options.DEFAULT_THREADS`.

    python benchmarks/cli_threads.py                  # shakespeare-char-cpu, 50 steps, 500 tokens
    python benchmarks/cli_threads.py --rounds 5 --max-iters 100

Needs the tinyshakespeare corpus (downloaded once, or MINIGPT_TINYSHAKESPEARE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import RESULTS, emit, load_average

from minigpt.training import hardware_info, software_info


def run(command: list[str]) -> float:
    """Wall-clock seconds of one `minigpt` command in a fresh process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "minigpt.cli", *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="shakespeare-char-cpu")
    parser.add_argument("--max-iters", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="default: 1…cores")
    parser.add_argument("--out", default=None, help="result file (default: results/...)")
    args = parser.parse_args(argv)
    threads = args.threads or list(range(1, (os.cpu_count() or 1) + 1))
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = str(Path(tmp) / "run")
        train = ["train", "--preset", args.preset, "--max-iters", str(args.max_iters)]
        train += ["--out-dir", run_dir, "--overwrite", "--no-progress"]
        sample = ["sample", "--checkpoint", run_dir, "--seed", "1"]
        sample += ["--max-new-tokens", str(args.max_new_tokens)]
        commands = {"train": train, "sample": sample}
        run(train + ["--threads", "1"])  # a checkpoint to sample from, and warm file caches
        seconds: dict[str, dict[int, list[float]]] = {c: {t: [] for t in threads} for c in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                for count in threads:
                    seconds[name][count].append(run(command + ["--threads", str(count)]))
    results = {
        name: {
            str(count): {
                "best_s": round(min(times), 2),
                "median_s": round(statistics.median(times), 2),
                "all_s": [round(t, 2) for t in times],
            }
            for count, times in by_threads.items()
        }
        for name, by_threads in seconds.items()
    }
    report = {
        "benchmark": "cli_threads",
        "command": "python benchmarks/cli_threads.py " + " ".join(argv or sys.argv[1:]),
        "train_command": "minigpt " + " ".join(train[:-3]) + " --out-dir DIR",
        "sample_command": "minigpt sample --checkpoint DIR " + " ".join(sample[3:]),
        "rounds": args.rounds,
        "load_average": {"before": load_before, "after": load_average()},
        "fastest": {
            name: min(by_threads, key=lambda c: by_threads[c]["median_s"])
            for name, by_threads in results.items()
        },
        "results": results,
        "hardware": hardware_info(),
        "software": software_info(),
    }
    emit(report, Path(args.out) if args.out else RESULTS / "cli_threads-cpu.json")
    return report


if __name__ == "__main__":
    main()

"""Engine overhead: fixture source -> null destination through ``sync_batch``, in checkpointed batches.

Measures what the engine itself costs per record (operators, commit fence, state and progress
folds), since neither connector does real work. Each size runs in a fresh subprocess so its peak
RSS is its own; comparing 100k with 1M records shows whether memory grows with the record count.

    .venv/bin/python benchmarks/engine_overhead.py [--records 1000000] [--state-limit 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

STREAMS = 4
STATE_EVERY = 100  # one checkpoint per 100 records, as one Stripe page


def run_once(records: int, state_limit: int) -> dict[str, float]:
    from sync_platform.engine import Engine, blocking
    from sync_platform.protocol import PipelineConfig

    per_stream = records // STREAMS
    pipeline = PipelineConfig.model_validate(
        {
            "source": {
                "type": "fixture",
                "fixture": {
                    "streams": {f"stream_{i}": per_stream for i in range(STREAMS)},
                    "state_every": STATE_EVERY,
                },
            },
            "destination": {"type": "null"},
        }
    )
    engine = Engine()
    state = None
    batches = 0
    started = time.perf_counter()
    while True:
        eof = blocking.run(engine.sync_batch(pipeline, state=state, run_id="bench", state_limit=state_limit))
        batches += 1
        state = eof.ending_state
        if not eof.has_more:
            break
    seconds = time.perf_counter() - started
    total = eof.run_progress.derived.total_record_count
    assert total == per_stream * STREAMS, total
    return {
        "records": total,
        "seconds": seconds,
        "records_per_second": total / seconds,
        "batches": batches,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--state-limit", type=int, default=1000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.records, args.state_limit)))
        return
    rows = []
    for records in (args.records // 10, args.records):
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--records",
                str(records),
                "--state-limit",
                str(args.state_limit),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    print("| records | batches | seconds | records/s | peak RSS (MiB) |")
    print("|--------:|--------:|--------:|----------:|---------------:|")
    for row in rows:
        print(
            f"| {row['records']:,} | {row['batches']} | {row['seconds']:.2f} "
            f"| {row['records_per_second']:,.0f} | {row['peak_rss_mib']:.0f} |"
        )
    small, large = rows
    print(
        f"\nRSS growth from {small['records']:,} to {large['records']:,} records: "
        f"{large['peak_rss_mib'] - small['peak_rss_mib']:+.1f} MiB"
    )


if __name__ == "__main__":
    main()

"""Run one benchmark on two git revisions, alternating, and compare a column's medians.

On a small shared machine identical runs of the Connect benchmark differ by ±7 % in client CPU,
more than most single changes are worth, and load drifts over minutes: a before/after pair run
once each, or one side after the other, measures the machine as much as the change. This runs
the benchmark from a git worktree of each revision (the same interpreter and dependencies),
alternating base and head ``--runs`` times, prints each run's result rows as they come, and then
the median and range of ``--column`` for each side.

    .venv/bin/python benchmarks/compare_revisions.py 2088fdb HEAD --runs 3 \\
        --column "CPU ms/request" -- connect.py --accounts 1000

Everything after ``--`` is the benchmark (a script under ``benchmarks/``) and its arguments. The
benchmark's markdown result rows (lines starting with ``|``, after its header) are what is
compared; the worktrees are removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _worktree(revision: str, parent: Path) -> Path:
    path = parent / revision.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), revision],
        check=True,
        capture_output=True,
    )
    return path


def _run(tree: Path, benchmark: list[str]) -> list[str]:
    """The benchmark's last markdown table (its summary), run from ``tree`` with its own code."""
    script, *arguments = benchmark
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script), *arguments],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{script} failed in {tree}:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    separators = [i for i, line in enumerate(lines) if line.startswith("|") and set(line) <= set("|-: ")]
    if not separators:
        raise SystemExit(f"{script} printed no result table:\n{done.stdout[-2000:]}")
    start = separators[-1] - 1  # the last table's header
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def _column(lines: list[str], name: str) -> list[float]:
    """The values of column ``name`` in the result rows of ``lines`` (the first header names it)."""
    header = next((line for line in lines if name in line), None)
    if header is None:
        raise SystemExit(f"no column {name!r} in the benchmark's output:\n" + "\n".join(lines[:3]))
    index = [cell.strip() for cell in header.strip("|").split("|")].index(name)
    values = []
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line == header or set(line) <= set("|-: "):
            continue
        try:
            values.append(float(cells[index].replace(",", "")))
        except (IndexError, ValueError):
            continue
    return values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="The revision before (a commit, a tag, HEAD~3).")
    parser.add_argument("head", help="The revision after.")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each revision, alternating.")
    parser.add_argument("--column", help="A result column to compare (its header, e.g. 'CPU ms/request').")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    benchmark = argv[split + 1 :]
    if not benchmark:
        parser.error("name the benchmark after --, e.g. -- connect.py --accounts 1000")
    results: dict[str, list[str]] = {args.base: [], args.head: []}
    with tempfile.TemporaryDirectory(prefix="compare_revisions_") as parent:
        trees = {revision: _worktree(revision, Path(parent)) for revision in results}
        try:
            for run in range(1, args.runs + 1):
                for revision, tree in trees.items():
                    lines = _run(tree, benchmark)
                    results[revision].extend(lines)
                    print(f"# {revision}, run {run}", *lines[2:], sep="\n", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
                )
    if args.column:
        for revision, lines in results.items():
            values = _column(lines, args.column)
            if values:
                print(
                    f"{revision}: {args.column} median {statistics.median(values):g} "
                    f"(range {min(values):g}–{max(values):g}, {len(values)} values)"
                )


if __name__ == "__main__":
    main()

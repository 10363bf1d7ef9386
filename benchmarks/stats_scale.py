"""How long the study's statistics take at the paper's scale, and how the time grows with runs.

A synthetic study (per-image table with the real columns) of up to 750 runs x 2,758 test images
(3 datasets x 5 ratios x 5 splits x 2 inits x 5 repeats, ~2.1M rows) goes through
``compute_statistics`` (describe, delta_m, Mood, Wilcoxon, Shapiro/Yeo-Johnson, bootstrap CIs,
per clinical label too) and the table builders. Run from the project root:

    .venv/bin/python benchmarks/stats_scale.py               # 50, 150, 750 runs
    .venv/bin/python benchmarks/stats_scale.py --runs 750 --bootstrap 2000
"""

from __future__ import annotations

import argparse
import os
import time

DATASETS = ("skin", "prostate", "kidney")
RATIOS = (80, 60, 40, 20, 10)
GRIDS = {  # runs -> (datasets, ratios); 5 splits x 2 inits x 5 repeats each
    50: (DATASETS[:1], RATIOS[:1]),
    150: (DATASETS, RATIOS[:1]),
    250: (DATASETS[:1], RATIOS),
    750: (DATASETS, RATIOS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[50, 150, 750], choices=sorted(GRIDS))
    parser.add_argument("--images", type=int, default=2758, help="test images per run (skin: 2,758)")
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("MEDSEGLAB_NO_PROGRESS", "1")

    from medseglab.stats.summary import StatsOptions, compute_statistics
    from medseglab.stats.synthetic import synthetic_study
    from medseglab.stats.tables import build_tables

    options = StatsOptions(bootstrap=args.bootstrap)
    print("wall seconds (CPU seconds of this process in brackets: the machine may be shared)")
    print(f"{'runs':>5} {'rows':>10} {'generate':>14} {'statistics':>14} {'tables':>14} {'groups':>7}")
    for runs in args.runs:
        datasets, ratios = GRIDS[runs]
        clock = [(time.perf_counter(), time.process_time())]
        table = synthetic_study(datasets=datasets, ratios=ratios, splits=range(5), repeats=range(5),
                                n_images=args.images, depletion_grows_test=False, seed=runs)
        clock.append((time.perf_counter(), time.process_time()))
        stats = compute_statistics(table, options)
        clock.append((time.perf_counter(), time.process_time()))
        for name in stats.datasets():
            build_tables(stats.for_dataset(name), table.loc[table["dataset"] == name])
        clock.append((time.perf_counter(), time.process_time()))
        spans = [f"{b[0] - a[0]:6.2f} ({b[1] - a[1]:5.2f})" for a, b in zip(clock, clock[1:])]
        print(f"{runs:>5} {len(table):>10,} {spans[0]:>14} {spans[1]:>14} {spans[2]:>14} {len(stats.compare):>7,}",
              flush=True)


if __name__ == "__main__":
    main()

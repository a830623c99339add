"""Figures of the Monte Carlo engine itself: throughput against a numpy floor, and dask speed-up."""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.common import Figure, Mode, Side, Target, fmt, log, ratio, timed
from sim.calibration.posterior import Posterior
from sim.engine.paths import time_grid
from sim.engine.reweighting import posterior_weights
from sim.engine.runner import RunOutput, run_paths
from sim.engine.innovations import INNOVATIONS, innovations
from sim.engine.trends import Trends, build_trends
from sim.scenarios.scenario import Scenario

KEEP_PATHS = 2000
SEED = 20250901


def engine_throughput(posterior: Posterior, scenario: Scenario, mode: Mode) -> Figure:
    """Figure 1: path-months per second of ``run_paths`` on the baseline vs one numpy normal per path-month.

    The engine run is end to end, as ``tokensim run`` does it for a large run: the trends of every
    posterior draw (``build_trends``, a fixed cost per run), family and posterior-draw picks, three
    AR(1) deviation series (three standard normals per path-month), events, the inverse links, the
    streamed histograms and claim counts, and thinning to ``KEEP_PATHS`` kept paths.
    """
    draws, months = mode.throughput_paths, len(time_grid(scenario))
    path_months = draws * months
    run_paths(posterior, scenario, draws=min(draws, 2000), seed=SEED, keep_paths=KEEP_PATHS)  # warm-up
    log.info("engine throughput: %d paths x %d months, %d repeats", draws, months, mode.repeats)
    engine_s, engine_all, _ = timed(lambda: run_paths(posterior, scenario, draws=draws, seed=SEED,
                                                      keep_paths=KEEP_PATHS), mode.repeats)
    trends_s, _, trends = timed(lambda: _every_trend(posterior, scenario), mode.repeats)
    rng = np.random.default_rng()
    floor_s, floor_all, _ = timed(lambda: rng.standard_normal((draws, months)), mode.repeats)
    floor3_s, _, _ = timed(lambda: rng.standard_normal((3, draws, months)), mode.repeats)
    # The engine's own random work: four normals per path-month from the first month free of data.
    free = months - trends.first_free
    floor4_s, _, _ = timed(lambda: innovations(rng, (4, draws, free)), mode.repeats)
    engine_rate, floor_rate = path_months / engine_s, path_months / floor_s
    steady_rate = path_months / max(engine_s - trends_s, 1e-9)
    return Figure(
        name="engine_throughput",
        meaning=("path-months simulated per second by sim.engine.runner.run_paths on scenarios/baseline.toml "
                 f"({draws:,} paths x {months} months, keep_paths={KEEP_PATHS}, streamed summaries), "
                 "against drawing one standard normal per path-month with numpy in the same process"),
        value=Side("engine (run_paths, end to end)", engine_rate, "path-months/s"),
        peer=Side("numpy floor: default_rng().standard_normal((N, T))", floor_rate, "path-months/s"),
        ratio=ratio(floor_rate, engine_rate),
        ratio_meaning="how many times slower the engine is than the one-normal floor (lower is better)",
        targets=[Target("engine slowdown vs the three-normal floor", "<=", 1.5,
                        ratio(path_months / floor3_s, engine_rate))],
        details={
            "paths": draws, "months": months, "repeats": mode.repeats,
            "engine_s": engine_s, "engine_all_s": engine_all, "floor_s": floor_s, "floor_all_s": floor_all,
            "floor_3_normals_rate": path_months / floor3_s,
            "slowdown_vs_3_normals": ratio(path_months / floor3_s, engine_rate),
            "build_trends_s": trends_s,
            "free_months": free,
            "floor_engine_innovations_s": floor4_s,
            "floor_engine_innovations_rate": path_months / floor4_s,
            "slowdown_vs_engine_innovations": ratio(path_months / floor4_s, engine_rate),
            "engine_innovations_vs_3_normals": ratio(floor4_s, floor3_s),
            "engine_rate_excluding_build_trends": steady_rate,
            "slowdown_vs_floor_excluding_build_trends": ratio(floor_rate, steady_rate),
        },
        notes=["the engine draws four standard normals per path-month (volume, usage and adoption AR(1) "
               f"innovations and the growth rate's walk), drawn by {INNOVATIONS} (sim.engine.innovations), from "
               "the first month free of data on, plus the per-path choices and the compute bound's draws; the "
               "target is stated against three float64 normals over every month "
               "(details.slowdown_vs_3_normals); drawing the engine's own innovations alone costs "
               "details.engine_innovations_vs_3_normals of that floor (details.slowdown_vs_engine_innovations is "
               "the engine against them); the rest is trends, the fused loop, histograms and claims",
               "build_trends_s evaluates every posterior draw's trends, as the engine does before a run this large "
               "(sim.engine.trends.WHOLE_AT)"],
    )


def _every_trend(posterior: Posterior, scenario: Scenario) -> Trends:
    """The trends of every posterior draw of every fit the scenario uses, evaluated."""
    trends = build_trends(posterior, scenario, posterior_weights(posterior, scenario))
    for rows in [*trends.volume.values(), *(model.rows for model in trends.open.values())]:
        rows.full()
    return trends


def _chunk_size(draws: int) -> int:
    """The default 50,000-path chunks, or about 8 chunks (a multiple of 1,000) for small runs."""
    return int(min(50_000, max(1000, (draws // 8) // 1000 * 1000)))


def _cluster_start_s(workers: int) -> float:
    """Seconds to start and close a local dask.distributed cluster like the runner's."""
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.close()
    cluster.close()
    return time.perf_counter() - started


def dask_speedup(posterior: Posterior, scenario: Scenario, mode: Mode) -> Figure:
    """Figure 5: wall time of ``run_paths(..., workers=1)`` over ``workers=2`` on one large run.

    Both runs start their own local dask.distributed cluster (inside ``run_paths``), so the times
    include cluster start-up; the two results are checked to be identical. The same run without dask
    (in this process) is timed too, as a reference: a 1-worker cluster can be slower than no cluster.
    """
    draws, chunk, repeats = mode.dask_paths, _chunk_size(mode.dask_paths), mode.dask_repeats

    def one(workers: int | None) -> RunOutput:
        log.info("dask: %d paths (chunks of %d) on %s", draws, chunk,
                 f"{workers} worker(s)" if workers else "no cluster (in this process, reference)")
        return run_paths(posterior, scenario, draws=draws, seed=SEED, keep_paths=KEEP_PATHS, chunk_size=chunk,
                         workers=workers)

    median: dict[int | None, float] = {}
    every: dict[int | None, list[float]] = {}
    output: dict[int | None, RunOutput] = {}
    for workers in (1, 2, None):
        median[workers], every[workers], output[workers] = timed(lambda: one(workers), repeats)
    identical = all(np.array_equal(output[w].paths.daily_tokens, output[None].paths.daily_tokens)
                    and (output[w].summary is None
                         or np.array_equal(output[w].summary.crossed, output[None].summary.crossed))
                    for w in (1, 2))
    speedup, in_process_s = ratio(median[1], median[2]), median[None]
    return Figure(
        name="dask_speedup",
        meaning=(f"wall time of run_paths on {draws:,} baseline paths (chunks of {chunk:,}, keep_paths={KEEP_PATHS}) "
                 "on a local dask.distributed cluster of 1 worker process vs 2 (cluster start-up included)"),
        value=Side("2 workers", median[2], "s"),
        peer=Side("1 worker", median[1], "s"),
        ratio=speedup,
        ratio_meaning="speed-up of 2 workers over 1 (1-worker time / 2-worker time; higher is better)",
        targets=[Target("speed-up with 2 workers", ">=", 1.6, speedup)],
        details={"paths": draws, "chunk_size": chunk, "repeats": repeats, "one_worker_all_s": every[1],
                 "two_workers_all_s": every[2], "results_identical": bool(identical),
                 "in_process_s": in_process_s, "in_process_all_s": every[None],
                 "speedup_2_workers_vs_in_process": ratio(in_process_s, median[2]),
                 "slowdown_1_worker_vs_in_process": ratio(median[1], in_process_s),
                 "cluster_start_2_workers_s": _cluster_start_s(2), "cpu_count": _cpus()},
        notes=["the reference without dask (details.in_process_s) shows what the workers buy over a plain run: "
               f"2 workers are {fmt(ratio(in_process_s, median[2]))}x as fast, 1 worker "
               f"{fmt(ratio(median[1], in_process_s))}x as slow"],
    )


def _cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

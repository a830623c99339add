"""Running a scenario at any size: chunks of blocks, streamed summaries, optional dask.distributed.

Blocks are grouped into chunks of ``chunk_size`` paths; each chunk is simulated, counted into a
:class:`~sim.engine.summary.Summary` and thinned to the paths that are kept. Chunks run in this process,
on a local dask.distributed cluster (``workers``), or on an existing one (``scheduler``). Because
every block's randomness is keyed by its index and summaries add up exactly, the result is
bit-identical whatever the chunk size and the number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.engine.paths import BLOCK, Paths, blocks, time_grid
from sim.engine.reweighting import posterior_weights
from sim.engine.simulate import simulate_blocks
from sim.engine.trends import Trends, build_trends
from sim.engine.summary import Summary
from sim.scenarios.scenario import Scenario

DEFAULT_CHUNK = 50_000
#: Runs up to this many paths keep every path (and summarise them exactly).
DEFAULT_KEEP = 20_000

Progress = Callable[[int, int], None]

#: Environment of local dask workers (see :func:`_client`).
WORKER_MALLOC = {
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": "33554432",
    "distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_": "268435456",
}


@dataclass(frozen=True)
class RunOutput:
    """What a run produced: the kept paths (with their global indices) and the summary of all paths (which
    posterior draws they rest on, and, when ``streamed``, the histograms that stand in for paths not kept)."""

    times: np.ndarray
    paths: Paths
    index: np.ndarray
    draws: int
    summary: Summary
    streamed: bool


def chunks_of(draws: int, chunk_size: int) -> list[list[tuple[int, int]]]:
    """Consecutive blocks grouped into chunks of ``chunk_size`` paths."""
    if chunk_size < BLOCK or chunk_size % BLOCK:
        raise UserError(f"must be a positive multiple of {BLOCK} (the logical block of paths), got {chunk_size}",
                        where="--chunk-size")
    per_chunk = chunk_size // BLOCK
    all_blocks = blocks(draws)
    return [all_blocks[i:i + per_chunk] for i in range(0, len(all_blocks), per_chunk)]


def _simulate_group(trends: Trends, scenario: Scenario, seed: int, group: list[list[tuple[int, int]]],
                    stride: int, keep_all: bool) -> tuple[Summary, Paths, np.ndarray]:
    """Simulate several chunks in sequence (one task on a dask worker)."""
    results = [simulate_blocks(trends, scenario, seed, chunk, stride, keep_all) for chunk in group]
    summary = results[0][0]
    for other, *_ in results[1:]:
        summary += other
    return summary, Paths.concatenate([r[1] for r in results]), np.concatenate([r[2] for r in results])


def _local(trends, scenario, seed, chunks, stride, keep_all, progress):
    for done, chunk in enumerate(chunks, start=1):
        yield simulate_blocks(trends, scenario, seed, chunk, stride, keep_all)
        if progress:
            progress(done, len(chunks))


def _distributed(client, trends, scenario, seed, chunks, stride, keep_all, progress):
    from distributed import as_completed

    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    groups = [list(g) for g in np.array_split(np.arange(len(chunks)), min(len(chunks), 4 * workers)) if len(g)]
    shared = client.scatter(trends, broadcast=True)
    futures = [client.submit(_simulate_group, shared, scenario, seed, [chunks[i] for i in group], stride,
                             keep_all, pure=False) for group in groups]
    done = 0
    for future in as_completed(futures):
        result = future.result()
        future.release()
        done += 1
        if progress:
            progress(done, len(futures))
        yield result


def run_paths(posterior: Posterior, scenario: Scenario, *, draws: int, seed: int,
              chunk_size: int = DEFAULT_CHUNK, keep_paths: int | None = None, workers: int | None = None,
              scheduler: str | None = None, progress: Progress | None = None) -> RunOutput:
    """Simulate ``draws`` paths of ``scenario``; see the module docstring."""
    keep = min(draws, DEFAULT_KEEP if keep_paths is None else keep_paths)
    if keep < 1:
        raise UserError(f"must be at least 1, got {keep_paths}", where="--keep-paths")
    stride = math.ceil(draws / keep)
    keep_all = stride == 1
    chunks = chunks_of(draws, chunk_size)
    trends = build_trends(posterior, scenario, posterior_weights(posterior, scenario), draws)
    times = time_grid(scenario)
    arguments = (trends, scenario, seed, chunks, stride, keep_all, progress)
    summary = Summary.empty(len(times), len(scenario.claims))
    kept, kept_index = [], []
    client = _client(workers, scheduler) if workers or scheduler else None
    try:
        parts = _distributed(client, *arguments) if client else _local(*arguments)
        for part_summary, part_paths, part_index in parts:  # reduced as they arrive: bounded memory
            summary += part_summary
            kept.append(part_paths)
            kept_index.append(part_index)
    finally:
        if client is not None:
            _close(client)
    paths, index = Paths.concatenate(kept), np.concatenate(kept_index)
    if np.any(np.diff(index) < 0):  # chunks from dask workers arrive in any order
        order = np.argsort(index, kind="stable")
        paths, index = paths.take(order), index[order]
    return RunOutput(times, paths, index, draws, summary, not keep_all)


def _client(workers: int | None, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise UserError("dask.distributed is not installed", where="--workers") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=10)
        except OSError as exc:
            raise UserError(f"cannot reach the dask scheduler ({exc})", where=f"--scheduler {scheduler}") from None
    import dask

    # ":0" serves the dashboard on any free port, so a second cluster never clashes with the first.
    # distributed starts workers with glibc's malloc set to hand memory back eagerly, which makes
    # every large numpy temporary a fresh mmap: the engine then ran no faster on one worker than
    # in one process with dask off, at half the speed per worker. These keep the freed arenas.
    with dask.config.set(WORKER_MALLOC):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster)


def _close(client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()

"""Evaluation: the engine as a function of the factors, the Saltelli design and the Sobol indices."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.analysis.sensitivity.factors import Factor
from sim.analysis.sensitivity.targets import TARGET_KINDS, Target
from sim.calibration.posterior import Posterior
from sim.engine.paths import Paths, blocks, time_grid
from sim.engine.reweighting import posterior_weights
from sim.engine.simulate import simulate_block
from sim.engine.trends import Trends, build_trends
from sim.scenarios.scenario import Scenario

log = logging.getLogger("tokensim")

#: Independent-seed replicates at the scenario's own values, to measure Monte Carlo noise.
NOISE_REPLICATES = 16
BOOTSTRAP_RESAMPLES = 500


@dataclass
class ScenarioModel:
    """The engine as a function of the factors: rows of factor values -> rows of target values.

    Every row runs ``paths`` paths with the same ``seed`` (common random numbers) on trends built
    once for the scenario's families; only the importance weights change from row to row.
    """

    posterior: Posterior
    scenario: Scenario
    factors: list[Factor]
    targets: list[Target]
    paths: int
    seed: int
    trends: Trends | None = None

    def __post_init__(self) -> None:
        if self.trends is None:
            self.trends = build_trends(self.posterior, self.scenario, {})
        self.times = time_grid(self.scenario)
        months = self.times.astype("datetime64[M]")
        self.columns = [int(np.searchsorted(months, target.date)) for target in self.targets]

    def scenario_at(self, row: np.ndarray) -> Scenario:
        """The scenario with every factor set to its value in ``row``."""
        scenario = self.scenario
        for factor, value in zip(self.factors, row):
            scenario = factor.apply(scenario, float(value))
        return scenario

    def simulate(self, row: np.ndarray, seed: int | None = None, paths: int | None = None) -> tuple[Scenario, Paths]:
        """The scenario at ``row`` and its paths (the engine's blocks, as a run of that many paths)."""
        scenario = self.scenario_at(row)
        trends = dataclasses.replace(self.trends, weights=posterior_weights(self.posterior, scenario))
        seed = self.seed if seed is None else seed
        return scenario, Paths.concatenate([simulate_block(trends, scenario, seed, block, size, self.times)
                                            for block, size in blocks(paths or self.paths)])

    def evaluate_one(self, row: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Target values of one point of the design."""
        scenario, paths = self.simulate(row, seed)
        return np.array([TARGET_KINDS[t.kind](paths, c, t, scenario) for t, c in zip(self.targets, self.columns)])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), len(self.targets)))
        step = max(len(rows) // 10, 1)
        for index, row in enumerate(rows):
            out[index] = self.evaluate_one(row)
            if (index + 1) % step == 0:
                log.info("sensitivity: %d/%d evaluations", index + 1, len(rows))
        return out

    def noise(self, replicates: int = NOISE_REPLICATES) -> np.ndarray:
        """Variance of each target between independent seeds at the scenario's own values."""
        nominal = np.array([f.nominal for f in self.factors])
        seeds = np.random.SeedSequence(self.seed, spawn_key=(2,)).generate_state(replicates, dtype=np.uint64)
        values = np.array([self.evaluate_one(nominal, int(s) % 2**63) for s in seeds])
        return values.var(axis=0, ddof=1)


def _stream(seed: int, key: int) -> int:
    """A seed for SALib's sampler (key 0) or bootstrap (key 1), derived from the root seed."""
    return int(np.random.SeedSequence(seed, spawn_key=(key,)).generate_state(1)[0])


def sobol_design(factors: Sequence[Factor], base_samples: int, seed: int) -> np.ndarray:
    """Saltelli's design for first-order and total indices: ``base_samples x (D + 2)`` rows."""
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(_problem(factors), base_samples, calc_second_order=False, seed=_stream(seed, 0))


def _problem(factors: Sequence[Factor]) -> dict:
    return {"num_vars": len(factors), "names": [f.name for f in factors], "bounds": [[f.low, f.high] for f in factors]}


def sobol_indices(factors: Sequence[Factor], outputs: np.ndarray, seed: int,
                  resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, np.ndarray]:
    """S1, S1_conf, ST, ST_conf ``(target, factor)`` for outputs ``(row, target)`` of :func:`sobol_design`.

    A target that does not vary over the design has no variance to share out: its indices are NaN.
    """
    from SALib.analyze import sobol as sobol_analyze

    names = ("S1", "S1_conf", "ST", "ST_conf")
    result = {name: np.full((outputs.shape[1], len(factors)), np.nan) for name in names}
    for column in range(outputs.shape[1]):
        values = outputs[:, column]
        if not np.all(np.isfinite(values)) or np.var(values) <= 1e-12 * max(np.mean(values) ** 2, 1e-12):
            continue
        analysis = sobol_analyze.analyze(_problem(factors), values, calc_second_order=False,
                                         num_resamples=resamples, seed=_stream(seed, 1))
        for name in names:
            result[name][column] = analysis[name]
    return result

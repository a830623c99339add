"""Targets: the scalar summaries of one evaluation's paths (claim probabilities, log10 medians)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.engine.paths import Paths
from sim.scenarios.scenario import KIND_WORDS, Scenario

MEDIAN_DATES = ("2027-12", "2030-12")


@dataclass(frozen=True)
class Target:
    """A scalar summary of one evaluation's paths: a claim's probability by a date, or a median."""

    kind: str
    claim: str
    variable: str
    date: np.datetime64
    label: str


def claim_probability(paths: Paths, column: int, target: Target, scenario: Scenario) -> float:
    """Share of paths in which the claim has held at or before the target month."""
    claim = next(c for c in scenario.claims if c.name == target.claim)
    return float(claim.holds(paths.series()[claim.variable][:, :column + 1])[:, -1].mean())


def log10_median(paths: Paths, column: int, target: Target, scenario: Scenario) -> float:
    """log10 of the median over paths of the variable in the target month."""
    return float(np.log10(np.median(paths.series()[target.variable][:, column])))


#: How each kind of target is measured on one evaluation's paths.
TARGET_KINDS: dict[str, Callable[[Paths, int, Target, Scenario], float]] = {
    "claim": claim_probability,
    "median": log10_median,
}


def scenario_targets(scenario: Scenario) -> list[Target]:
    """Each claim by each of its dates, then the log10 median daily tokens at :data:`MEDIAN_DATES`."""
    targets = []
    for claim in scenario.claims:
        sign = ">" if claim.direction == "above" else "<"
        for by in claim.by:
            targets.append(Target("claim", claim.name, claim.variable, by,
                                  f"P({claim.variable} {sign} {claim.threshold:g} {KIND_WORDS[claim.kind]} {by})"))
    for text in MEDIAN_DATES:
        month = np.datetime64(text, "M")
        if month <= scenario.horizon:
            targets.append(Target("median", "", "daily_tokens", month, f"log10 median daily tokens {text}"))
    return targets

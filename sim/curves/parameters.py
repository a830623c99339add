"""The parameters of a path, a registry: units and long name (stored with every path), a readable label
(sensitivity tables, claims in words) and the unit shown on a chart's axis.

Volume parameters belong to the growth families (NaN on a path whose family has none), the open-source
ones to the adoption and usage curves, and the compute ones to a scenario's compute bound; a series'
own ``scale``, ``drift`` and ``sigma`` are named ``<series>_<parameter>`` (:data:`SERIES_PARAMETERS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One parameter of a path, or of a series (its ``<series>_<name>`` in the model)."""

    name: str
    units: str  # CF units (UDUNITS; a count per day is "day-1"), stored with every path
    long_name: str  # CF long name, stored with every path
    label: str = ""  # readable name: sensitivity tables, claims in words
    axis: str = ""  # the unit a chart's axis shows


PARAMETERS: dict[str, Parameter] = {
    parameter.name: parameter
    for parameter in (
        Parameter("v_ref", "day-1",
                  "volume level in tokens per day around 2025-01-01 (geometric mean of the 2024-10 and 2025-04 anchors)",
                  "volume level v_ref", "tokens/day"),
        Parameter("growth", "year-1", "mean growth rate of log volume between 2024-10 and 2025-04",
                  "2024-25 growth rate", "per year"),
        Parameter("ceiling", "day-1", "volume ceiling in tokens per day (NaN for the unbounded exponential family)",
                  "volume ceiling"),
        Parameter("ceiling_headroom", "1", "the ceiling over the 2025-04 level, minus one (sampled for the ceiling)",
                  "ceiling headroom", "x the 2025-04 level"),
        Parameter("shape", "1", "Richards shape (NaN for the other families): 1 logistic, towards 0 Gompertz",
                  "Richards shape", "Richards nu"),
        Parameter("adopter_share_of_headroom", "1",
                  "product family: part of log(ceiling / 2025-04 level) that is enterprises not yet adopting "
                  "(NaN for the other families)", "adopters' share of the headroom", "share of log(ceiling / level)"),
        Parameter("adopter_share_of_growth", "1",
                  "product family: part of the 2024H2-2025H1 growth from new adopters (NaN for the other families)",
                  "adopters' share of the growth", "share of the 2025 growth"),
        Parameter("growth_decay", "year-1", "decay family: rate at which growth in excess of the long-run rate fades "
                  "(NaN for the other families)", "growth decay rate", "per year"),
        Parameter("long_run_growth", "year-1", "decay family: long-run growth rate of volume (NaN for the other "
                  "families)", "long-run growth rate", "per year"),
        Parameter("inference_share", "1", "compute-logistic family: share of China's intelligent compute serving "
                  "enterprise LLM inference at saturation (NaN for the other families)", "inference share of compute",
                  "share of compute"),
        Parameter("tokens_per_eflops_day", "day-1", "compute-logistic family: tokens served per day by one EFLOPS of "
                  "installed compute (NaN for the other families)", "tokens per EFLOPS-day", "tokens per EFLOPS-day"),
        Parameter("compute_eflops", "1", "compute-logistic family: China's intelligent compute on 2025-01-01 in "
                  "EFLOPS, from the trend fitted to the compute figures (NaN for the other families)",
                  "compute on 2025-01-01", "EFLOPS"),
        Parameter("compute_growth", "year-1", "compute-logistic family: growth rate of China's intelligent compute, "
                  "from the trend fitted to the compute figures (NaN for the other families)", "compute growth rate",
                  "per year"),
        Parameter("share_2025h1", "1", "open-source share of enterprise calls in the middle of 2025H1 (the anchor "
                  "of the share curve)", "open share in 2025H1", "share of calls"),
        Parameter("adoption_2025h1", "1", "share of LLM-using enterprises using an open-source model in the middle "
                  "of 2025H1", "adoption in 2025H1", "share of enterprises"),
        Parameter("adoption_headroom", "1", "share of the enterprises not using open-source models in 2025H1 that "
                  "eventually do", "adoption headroom", "share of non-adopters"),
        Parameter("adoption_rate", "year-1", "logistic rate of enterprise adoption of open-source models",
                  "adoption rate", "per year"),
        Parameter("usage_headroom", "1", "share of adopters' remaining closed-model calls that open models eventually "
                  "take (if k > 0)", "usage headroom", "share of closed calls"),
        Parameter("k", "year-1", "Fisher-Pry substitution rate of open models inside adopters (negative: a falling "
                  "share)", "substitution rate k", "per year"),
        Parameter("call_weight", "1", "exponent gamma of the call-weighted link s = a^gamma u: below 1 when adopters "
                  "make more than their share of calls, 1 when every enterprise weighs the same", "call weight gamma",
                  "exponent"),
        Parameter("usage_2025h1", "1", "share of adopters' calls going to open models in the middle of 2025H1 "
                  "(share / adoption^gamma)", "usage in 2025H1", "share of calls"),
        Parameter("m", "1", "eventual share of LLM-using enterprises using open-source models", "eventual adopters m",
                  "share of enterprises"),
        Parameter("u_max", "1", "long-run share of an adopter's calls going to open-source models (if k > 0)",
                  "usage ceiling u_max", "share of calls"),
        Parameter("compute_utilisation", "1",
                  "share of China's intelligent compute serving enterprise LLM inference, times its utilisation "
                  "(scenarios with a [compute] bound)", "compute utilisation"),
        Parameter("active_parameters", "1",
                  "token-weighted active parameters per token (scenarios with a [compute] bound)",
                  "active parameters per token"),
    )
}

#: A series' own parameters, named ``<series>_<parameter>`` in the volume model.
SERIES_PARAMETERS: dict[str, Parameter] = {
    parameter.name: parameter
    for parameter in (
        Parameter("scale", "1", "the series' level relative to the F&S definition", "scale", "x F&S level"),
        Parameter("drift", "year-1", "the series' growth relative to the F&S definition", "drift", "per year"),
        Parameter("sigma", "1", "lognormal noise of each of the series' figures", "noise sigma"),
        Parameter("release_sigma", "1", "lognormal noise shared by the series' figures of one release", "release noise"),
    )
}


def axis_unit(name: str) -> str:
    """The unit a chart's axis shows for a parameter, or for a series' own one by its suffix."""
    known = PARAMETERS.get(name) or SERIES_PARAMETERS.get(name.rsplit("_", 1)[-1])
    return known.axis if known else ""

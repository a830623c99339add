"""The parameters of a path, a registry: units and long name (stored with every path), a readable label
(sensitivity tables, claims in words) and the unit shown on a chart's axis.

Volume parameters belong to the growth families (NaN on a path whose family has none), the open-source
ones to the Bass x Fisher-Pry curves, and the compute ones to a scenario's compute bound; a series'
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
        Parameter("bass_p", "year-1", "Bass innovation coefficient of enterprise adoption", "Bass innovation p",
                  "per year"),
        Parameter("bass_q", "year-1", "Bass imitation coefficient of enterprise adoption", "Bass imitation q",
                  "per year"),
        Parameter("m", "1", "eventual share of enterprises adopting open-source models", "eventual adopters m",
                  "share of enterprises"),
        Parameter("t_start", "year", "start of open-source adoption, years since 2025-01-01",
                  "adoption start t_start", "years from 2025-01-01"),
        Parameter("u_max", "1", "long-run share of an adopter's calls going to open-source models",
                  "usage ceiling u_max", "share of calls"),
        Parameter("k", "year-1", "Fisher-Pry substitution rate inside adopters", "substitution rate k", "per year"),
        Parameter("t_half", "year", "time when usage inside adopters is half of u_max, years since 2025-01-01",
                  "usage half-time t_half", "years from 2025-01-01"),
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
        Parameter("sigma", "1", "lognormal noise of the series' figures", "noise sigma"),
    )
}


def axis_unit(name: str) -> str:
    """The unit a chart's axis shows for a parameter, or for a series' own one by its suffix."""
    known = PARAMETERS.get(name) or SERIES_PARAMETERS.get(name.rsplit("_", 1)[-1])
    return known.axis if known else ""

"""The results contract as data, and the check every opened results file must pass.

A results file is read by ``summarize``, ``plot``, ``compare``, ``report`` and notebooks; a file that
was cut short, edited or written by something else must be refused with what is wrong, not crash
halfway through a table. :data:`EXPECTED` lists the variables a results Dataset holds (built from the
variable registry, :data:`~sim.core.variables.VARIABLES`, so a new simulated variable brings its
own entries), their dimensions and kind; :data:`ATTRIBUTES` the attributes the readers rely on.
Variables not listed are allowed (a newer tokensim may write more), and an optional one is checked
only when present.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from sim.core.errors import UserError
from sim.core.timeaxis import parse_month
from sim.core.variables import VARIABLES
from sim.engine.summary import SUMMARY_QUANTILES
from sim.scenarios.scenario import Claim

#: What kind of values a variable holds, and how to say it.
KINDS: dict[str, tuple[str, str]] = {"number": ("fc", "floating-point numbers"), "text": ("UOS", "text"),
                                      "integer": ("iu", "integers"), "time": ("M", "dates (datetime64)")}


@dataclass(frozen=True)
class Expected:
    """A variable of the results contract: its dimensions, the kind of its values, whether every file has it."""

    dims: tuple[str, ...]
    kind: str = "number"
    required: bool = True


#: Per simulated variable: the variable itself and each summary of it, by suffix.
PER_VARIABLE: dict[str, Expected] = {
    "": Expected(("draw", "time")),
    "_quantiles": Expected(("quantile", "time")),
    "_quantiles_mc_se": Expected(("quantile", "time")),
}
#: Variables holding a share of paths per claim and month, each between 0 and 1.
CLAIM_SHARES = ("claim_probability", "claim_first_passage")
#: Every variable of the contract, by name.
EXPECTED: dict[str, Expected] = {
    **{name + suffix: expected for name in VARIABLES for suffix, expected in PER_VARIABLE.items()},
    **{name: Expected(("claim", "time")) for name in (*CLAIM_SHARES, "claim_probability_mc_se")},
    "compute_bound": Expected(("draw", "time"), required=False),
    "family": Expected(("draw",), "text", required=False),
    "open_model": Expected(("draw",), "text", required=False),
    "time": Expected(("time",), "time"),
    "draw": Expected(("draw",), "integer"),
    "quantile": Expected(("quantile",), "number"),
    "claim": Expected(("claim",), "text"),
}


def _integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _text(value: Any) -> bool:
    return isinstance(value, str)


#: Attributes the readers rely on: a test of the value and what it must be.
ATTRIBUTES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scenario": (_text, "the scenario name, as text"),
    "seed": (lambda v: _integer(v) and v >= 0, "the root seed, a non-negative integer"),
    "calibration_id": (_text, "the calibration id, as text"),
    "paths_simulated": (lambda v: _integer(v) and v >= 1, "the number of simulated paths, a positive integer"),
    "claims": (_text, "the claims as JSON text"),
}
#: The keys of a claim in the ``claims`` attribute: every field of a Claim, those without a default required.
CLAIM_KEYS = tuple(f.name for f in dataclasses.fields(Claim))
REQUIRED_CLAIM_KEYS = tuple(f.name for f in dataclasses.fields(Claim) if f.default is dataclasses.MISSING)


def _fail(path: str, message: str) -> UserError:
    return UserError(f"not a valid tokensim results file: {message}", where=path)


def _check_variables(dataset: xr.Dataset, path: str) -> None:
    for name, expected in EXPECTED.items():
        if name not in dataset.variables:
            if expected.required:
                raise _fail(path, f"variable '{name}' is missing")
            continue
        variable = dataset[name]
        if variable.dims != expected.dims:
            raise _fail(path, f"variable '{name}' has dimensions {variable.dims}, expected {expected.dims}")
        kinds, described = KINDS[expected.kind]
        if variable.dtype.kind not in kinds:
            raise _fail(path, f"variable '{name}' holds {variable.dtype} values, expected {described}")
    quantiles = dataset["quantile"].values
    if not (np.all((quantiles > 0) & (quantiles < 1)) and np.all(np.diff(quantiles) > 0)):
        raise _fail(path, "the quantile levels must increase strictly inside (0, 1)")
    missing = [q for q in SUMMARY_QUANTILES if not np.isclose(quantiles, q).any()]
    if missing:
        raise _fail(path, f"the quantile levels {missing} are missing (every file holds {list(SUMMARY_QUANTILES)})")
    if dataset.sizes["time"] < 1 or not np.all(np.diff(dataset["time"].values) > np.timedelta64(0)):
        raise _fail(path, "the time axis must hold at least one month, in increasing order")
    for name in CLAIM_SHARES:
        shares = dataset[name].values
        if not np.all((shares >= 0) & (shares <= 1)):
            raise _fail(path, f"{name} must hold shares between 0 and 1")


def _check_attributes(dataset: xr.Dataset, path: str) -> None:
    for name, (valid, described) in ATTRIBUTES.items():
        if name not in dataset.attrs:
            raise _fail(path, f"attribute '{name}' is missing ({described})")
        value = dataset.attrs[name]
        if not valid(value):
            shown = value.item() if isinstance(value, np.generic) else value
            raise _fail(path, f"attribute '{name}' is {shown!r}; expected {described}")


def _check_claims(dataset: xr.Dataset, path: str) -> None:
    try:
        entries = json.loads(dataset.attrs["claims"])
    except ValueError as exc:
        raise _fail(path, f"attribute 'claims' is not JSON ({exc})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and set(REQUIRED_CLAIM_KEYS) <= set(e)
                                                <= set(CLAIM_KEYS) for e in entries):
        raise _fail(path, f"attribute 'claims' must be a list of claims, each with the keys "
                          f"{', '.join(REQUIRED_CLAIM_KEYS)} (and optionally {', '.join(set(CLAIM_KEYS) - set(REQUIRED_CLAIM_KEYS))})")
    names = [str(n) for n in dataset["claim"].values]
    if [e["name"] for e in entries] != names:
        raise _fail(path, f"attribute 'claims' names {[e['name'] for e in entries]}, but the claim coordinate "
                          f"holds {names}")
    times = set(dataset["time"].values.astype("datetime64[M]"))
    for entry in entries:
        where = f"claim {entry['name']!r}"
        if entry["variable"] not in VARIABLES or entry.get("direction", "above") not in ("above", "below"):
            raise _fail(path, f"{where} has variable {entry['variable']!r} and direction {entry.get('direction')!r}; "
                              f"allowed: {', '.join(VARIABLES)}; above, below")
        if not isinstance(entry["threshold"], (int, float)) or isinstance(entry["threshold"], bool):
            raise _fail(path, f"{where} has threshold {entry['threshold']!r}, expected a number")
        if not isinstance(entry["by"], list) or not entry["by"]:
            raise _fail(path, f"{where} must list the months it is judged by")
        for month in entry["by"]:
            try:
                inside = parse_month(month) in times
            except (TypeError, ValueError):
                inside = False
            if not inside:
                raise _fail(path, f"{where} is judged by {month!r}, which is not a month of the results' time axis")


def check_results(dataset: xr.Dataset, path: str) -> xr.Dataset:
    """``dataset`` unchanged if it follows the results contract; otherwise a UserError naming the first
    thing that does not, in the file at ``path``."""
    _check_variables(dataset, path)
    _check_attributes(dataset, path)
    _check_claims(dataset, path)
    return dataset

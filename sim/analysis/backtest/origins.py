"""The origins of a backtest: which figures each must forecast, which dates can be origins, and the default
origins (the day before each release of fitted figures). What an origin knew is
:class:`sim.analysis.predictive.Origin`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sim.core.errors import UserError
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, Observation, ObservationSet


def _knowledge_date(cut: str) -> Callable[[Observation], dt.date]:
    return (lambda o: o.published) if cut == "published" else (lambda o: o.last_day)


def held_out(observations: ObservationSet, as_of: dt.date, cut: str) -> tuple[Observation, ...]:
    """Fitted figures (volume series and the open share) not yet known at ``as_of``: the hindcasts."""
    known = {o.id for o in observations.vintage(as_of, cut).observations}
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    return tuple(o for o in fitted if o.id not in known)


def check_origin(observations: ObservationSet, as_of: dt.date, cut: str) -> None:
    """Refuse an origin with no volume figure before it or nothing left to forecast after it."""
    key = _knowledge_date(cut)
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    verb = "published" if cut == "published" else "measured (window ended)"
    if not observations.vintage(as_of, cut).fitted(VOLUME_QUANTITIES):
        first = min((key(o) for o in observations.fitted(VOLUME_QUANTITIES)), default=None)
        raise UserError(f"{as_of}: no fitted volume figure had been {verb} by then, so there is nothing to "
                        f"calibrate on (the first was {verb} on {first}); choose a date on or after it",
                        where="--as-of")
    if not held_out(observations, as_of, cut):
        last = max((key(o) for o in fitted), default=None)
        raise UserError(f"{as_of}: every fitted figure had been {verb} by then, so there is nothing to forecast "
                        f"(the last was {verb} on {last}); choose a date before it", where="--as-of")


def default_origins(observations: ObservationSet, cut: str = "published") -> tuple[dt.date, ...]:
    """The day before each date on which new fitted figures became known (published, or measured with
    ``cut="window"``), kept where a volume figure was already known: every distinct vintage once,
    each with the most it knew before the next release."""
    key = _knowledge_date(cut)
    releases = sorted({key(o) for o in observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))})
    origins = []
    for release in releases:
        as_of = release - dt.timedelta(days=1)
        if observations.vintage(as_of, cut).fitted(VOLUME_QUANTITIES) and held_out(observations, as_of, cut):
            origins.append(as_of)
    return tuple(origins)

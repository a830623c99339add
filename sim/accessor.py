"""``ds.tokensim``: the CLI's summaries and charts on any results Dataset in a notebook.

>>> ds = sim.load("results/baseline.nc")            # doctest: +SKIP
>>> ds.tokensim.quantiles().to_dataframe()           # doctest: +SKIP
>>> ds.tokensim.claims()                             # doctest: +SKIP
>>> ds.tokensim.fan()                                # doctest: +SKIP
"""

from __future__ import annotations

import xarray as xr


@xr.register_dataset_accessor("tokensim")
class TokensimAccessor:
    """Summaries of a tokensim results Dataset, built on the functions the CLI uses."""

    def __init__(self, dataset: xr.Dataset) -> None:
        self._dataset = dataset

    def quantiles(self, quantiles: tuple[float, ...] | None = None, times=None) -> xr.Dataset:
        """Year-end quantiles over all simulated paths (see :func:`sim.analysis.tables.quantile_table`)."""
        from sim.analysis.tables import QUANTILES, quantile_table

        return quantile_table(self._dataset, QUANTILES if quantiles is None else quantiles, times)

    def claims(self):
        """Each claim by each date: probability and median crossing month, as a DataFrame."""
        from sim.analysis.tables import claims_frame

        return claims_frame(self._dataset)

    def fan(self, variable: str | None = None, ax=None, observations=None):
        """The standard fan chart (one panel per variable, with the published figures of the registry the
        results were calibrated with, or ``observations``), or the bands of one ``variable``; returns the figure."""
        from sim.core.variables import VARIABLES
        from sim.plots.fan import fan, fan_chart

        if variable is None:
            return fan_chart(self._dataset, observations, axes=ax)
        return fan(self._dataset, variable, ax, scale=VARIABLES[variable].plot_scale)

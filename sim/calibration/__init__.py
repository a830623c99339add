"""Fitting the models: the fits, PyMC models, NUTS and its gate, the cached posterior, checks of the fit."""

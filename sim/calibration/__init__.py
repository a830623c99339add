"""Fitting the models: the fits registry, PyMC models, NUTS and its gate, the cached posterior, and checks of the fit."""

"""What calibration reads: the observation registry, the priors, distributions written as data, the compute figures."""

"""Simulation-based calibration: prior simulations refitted on a model compiled once; uniformity of ranks."""

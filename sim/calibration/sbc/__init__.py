"""Simulation-based calibration: prior simulations refitted on a model compiled once, and the uniformity of their ranks."""

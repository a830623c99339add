"""The Monte Carlo engine: posterior draws x a scenario -> paths in seeded blocks, streamed summaries, the results Dataset."""

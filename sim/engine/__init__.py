"""The Monte Carlo engine: posterior x scenario -> paths in seeded blocks, streamed summaries, the results."""

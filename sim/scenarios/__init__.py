"""Scenario configs: the TOML schema validated into immutable scenarios, and the compute bound they may assume."""

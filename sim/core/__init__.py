"""Below everything: the user's error, atomic files, strict TOML, the time axis, provenance, the version."""

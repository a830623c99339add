"""Below everything: errors, atomic files, strict TOML, time axis, default paths, variables, provenance, version."""

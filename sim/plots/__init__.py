"""Every figure (the only importer of matplotlib): each takes ax= where it can, returns the figure, and saves it atomically."""

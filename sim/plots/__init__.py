"""Every figure (the only importer of matplotlib): each takes ax= where it can and returns it; PNG rendering."""

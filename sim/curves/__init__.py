"""Every curve of the model, defined once for numpy and pytensor: the volume families and the open-source curves."""

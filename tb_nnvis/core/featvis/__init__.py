"""Feature visualization: synthesize the images that excite units most (see :mod:`.render`)."""

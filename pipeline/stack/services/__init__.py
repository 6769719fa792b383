"""One module per service: what it needs on disk, how it runs, how it is checked."""

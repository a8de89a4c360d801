"""A OneRoster 1.2 gradebook stand-in for tests and the benchmark (see ``standin``)."""

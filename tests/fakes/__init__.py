"""In-memory twins of the ports (chalicelib/ports.py) for unit tests and benches; never shipped."""

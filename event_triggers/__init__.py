"""Event Triggers: domain code shared by the API, the worker, the CLI and the benchmarks."""

__version__ = "0.1.0"

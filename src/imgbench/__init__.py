"""imgbench: honest benchmarks of parallel strategies for image work."""

__version__ = "0.1.0"

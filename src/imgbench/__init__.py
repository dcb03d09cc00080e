"""imgbench: honest benchmarks of parallel strategies for image work.

``__version__`` is the one place the version is written: ``pyproject.toml`` reads it from
here (``[tool.setuptools.dynamic]``), so the installed distribution's metadata and
``imgbench --version`` agree. It is a literal, not an ``importlib.metadata`` lookup, because
every cell job imports this package and that lookup alone cost about 60 ms of start-up per
job (``email`` parsing of the metadata), harness overhead paid 416 times in a default run.
"""

__version__ = "0.1.0"

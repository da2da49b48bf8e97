"""newswatch: follow allegations through the world's press.

The package is layered; an import only points down (``tests/test_layers.py`` checks it):

    cli/, web/                      the command line and the workbench
    orchestration/                  Prefect flows, serve, the process worker
    pipeline/, digest/, reports/    a polling pass, alert digests, trends/status/export
    store/                          the only code that writes SQL
    ingest/, flagging/, stories/    the stages: fetch and parse, match, cluster
    errors, models, settings        values, errors and configuration
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newswatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]

"""Imported by the extraction pool's fork server: load what every worker needs once.

Workers fork from the fork server, so what is loaded here (the language model, numpy for
story signatures) is shared instead of loaded again in each worker.
"""

from newswatch import stories  # noqa: F401  (numpy, signatures)
from newswatch.ingest.language import _identifier

_identifier()

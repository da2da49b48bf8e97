"""The store: the only code that writes SQL (re-exports while the package is split)."""

from newswatch.store.engine import *  # noqa: F403
from newswatch.store.engine import (  # noqa: F401
    StoreError,
    __all__,
    _postgres_extension,
    close_lakes,
    mentions_table,
)

"""The store: the only code that writes SQL (re-exports while the package is split)."""

from newswatch.store.engine import *  # noqa: F401,F403
from newswatch.store.engine import (  # noqa: F401
    __all__,
    _postgres_extension,
    StoreError,
    close_lakes,
    mentions_table,
)

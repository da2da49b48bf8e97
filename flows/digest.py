"""Entry point of the digest flow for ``prefect.yaml`` (the flow is
:func:`newswatch.orchestration.flows.send_digests_flow`)."""

from __future__ import annotations

from newswatch.orchestration.flows import send_digests_flow

__all__ = ["send_digests_flow"]

if __name__ == "__main__":
    send_digests_flow()

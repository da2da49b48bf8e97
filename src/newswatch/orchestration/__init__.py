"""Orchestration: the Prefect flows, `newswatch serve` (a supervised local Prefect server
and its deployments) and the process worker. Above the pipeline and the digests, below the CLI."""

"""``newswatch digest``: send, preview or save alert digests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import fail
from newswatch.digest.deliver import (
    DigestResult,
    DigestsConfig,
    load_digest_settings,
    send_digest,
    send_due_digests,
)
from newswatch.errors import ConfigError, NewswatchError
from newswatch.settings import resolve_db

__all__ = ["digest_command", "register"]

_HELP = """Send the alert digests that are due, or one digest now.

Without --name, sends every digest whose schedule has come (and immediate digests with
new items). With --name, sends that digest now, whatever its schedule. Each recipient gets
only what was not delivered to them before; items are marked delivered only after the
mail server accepted the message.

\b
Examples:
  newswatch digest                          # send what is due
  newswatch digest --dry-run                # show what would be sent, change nothing
  newswatch digest --name weekly            # send the digest "weekly" now
  newswatch digest --name weekly --to-file weekly.eml   # save it, mark nothing

The SMTP password is read from NEWSWATCH_SMTP_PASSWORD (or the Prefect Secret block
named by smtp.password_block).
"""


def _fmt_when(dt: object) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt is not None else "?"  # type: ignore[attr-defined]


def _report(r: DigestResult, *, dry_run: bool) -> list[str]:
    if r.status == "not_due":
        return [f"{r.name}: not due (next at {_fmt_when(r.next_due)})"]
    if r.status == "empty":
        return [f"{r.name}: nothing new, nothing sent"]
    if r.status == "busy":
        return [f"{r.name}: skipped, {r.error}"]
    if r.status == "written":
        m = r.messages[0]
        return [f"{r.name}: wrote {len(m.items)} item(s) to {r.to_file} (nothing marked delivered)"]
    lines = []
    if dry_run and not r.messages:
        lines.append(f"{r.name}: nothing would be sent")
    for m in r.messages:
        verb = "would send" if dry_run else "sent"
        what = f"{len(m.items)} item(s)" if m.items else '"nothing new"'
        lines.append(f"{r.name}: {verb} {what} to {m.recipient}")
        if dry_run:
            for i, it in enumerate(m.items, 1):
                title = " ".join((it.title or it.url).split())
                when = it.published_at.strftime("%Y-%m-%d") if it.published_at else "no date"
                extra = f", +{len(it.also_reported_by)} outlets" if it.also_reported_by else ""
                lines.append(f"  {i:>2}. [{it.score:.1f}] {title} ({it.source}, {when}{extra})")
    if r.pending_left:
        lines.append(f"{r.name}: {r.pending_left} more item(s) left for the next run (max_items)")
    return lines


def digest_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Configuration folder (default: ./config or NEWSWATCH_CONFIG)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="DuckDB file (default: from newswatch.yaml or NEWSWATCH_DB)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Only this digest, sent now whatever its schedule.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and change nothing.")
    ] = False,
    to_file: Annotated[
        Path | None,
        typer.Option(
            "--to-file",
            help="Write the message to this .eml file instead of sending it (marks nothing delivered).",
        ),
    ] = None,
) -> None:
    from newswatch.settings import default_config_dir
    from newswatch.store import Store

    try:
        cdir = config if config is not None else default_config_dir()
        if not cdir.is_dir():
            raise ConfigError("configuration directory not found", file=str(cdir))
        smtp, digests = load_digest_settings(cdir)
        if not digests:
            raise ConfigError(
                "no digests configured (add a digests: list)", file=str(cdir / "newswatch.yaml")
            )
        if name is not None and name not in {d.name for d in digests}:
            raise ConfigError(
                f"no digest named {name!r} (configured: {', '.join(d.name for d in digests)})",
                file=str(cdir / "newswatch.yaml"),
            )
        store = Store(resolve_db(cdir, db, strict=True))
        from newswatch.flagging.watchlist import watchlist_labels

        labels = watchlist_labels(cdir / "watchlist.yaml")
        if to_file is not None:
            if name is None and len(digests) > 1:
                raise ConfigError("--to-file writes one message: choose the digest with --name")
            digest = next(d for d in digests if name in (None, d.name))
            results = [send_digest(store, digest, smtp, to_file=to_file, labels=labels)]
        elif name is not None:
            digest = next(d for d in digests if d.name == name)
            results = [send_digest(store, digest, smtp, dry_run=dry_run, labels=labels)]
        else:
            results = send_due_digests(
                store, DigestsConfig(smtp=smtp, digests=digests), dry_run=dry_run, labels=labels
            )
    except NewswatchError as e:
        fail(str(e), hint=e.hint, code=e.exit_code)
    for r in results:
        for line in _report(r, dry_run=dry_run):
            typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``digest`` to the newswatch command line."""
    app.command("digest", help=_HELP)(digest_command)

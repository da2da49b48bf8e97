"""``newswatch digest``: send, preview or save alert digests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from newswatch.cli.common import (
    SUMMARY,
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    err_console,
    errors_to_exit,
    safe_text,
)
from newswatch.digest.deliver import (
    DigestResult,
    DigestsConfig,
    load_digest_settings,
    send_digest,
    send_due_digests,
)
from newswatch.errors import ConfigError, UsageError
from newswatch.settings import resolve_db

__all__ = ["digest_command", "register"]

_HELP = """Send the alert digests that are due, or one digest now.

Without --name, sends every digest whose schedule has come (and immediate digests with
new items). With --name, sends that digest now, whatever its schedule. Each recipient gets
only what was not delivered to them before; items are marked delivered only after the
mail server accepted the message.

\b
Examples:
  newswatch digest                     # send what is due
  newswatch digest --dry-run           # what would be sent; change nothing
  newswatch digest --name weekly       # send the digest "weekly" now
  newswatch digest --name weekly --to-file weekly.eml    # save it only
  newswatch digest --dry-run -f json   # the same preview, for scripts

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


_EXAMPLE: dict[
    str, Any
] = {  # the commented example of config/newswatch.yaml, for a preview without digests
    "name": "example",
    "recipients": ["analyst@example.org"],
    "schedule": "0 7 * * mon-fri",
}


def digest_command(
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    name: str | None = typer.Option(
        None, "--name", help="Only this digest, sent now whatever its schedule."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be sent; send and change nothing."
    ),
    to_file: Path | None = typer.Option(
        None,
        "--to-file",
        help="Write the message to this .eml file instead of sending it (marks nothing delivered).",
    ),
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    from newswatch.settings import DigestSettings, default_config_dir
    from newswatch.store import Store

    with errors_to_exit():
        fmt = check_format(fmt, SUMMARY)
        cdir = config if config is not None else default_config_dir()
        if not cdir.is_dir():
            raise ConfigError("configuration directory not found", file=str(cdir))
        smtp, digests = load_digest_settings(cdir)
        preview = dry_run or to_file is not None
        if not digests and preview and name in (None, _EXAMPLE["name"]):
            # nothing configured yet: show what the commented example would hold
            err_console.print(
                f"No digests in {cdir / 'newswatch.yaml'}: previewing its commented example "
                f"({_EXAMPLE['name']!r}, every flagged article); define your own under digests:.",
                markup=False,
                soft_wrap=True,
            )
            digests = [DigestSettings.model_validate(_EXAMPLE)]
            name = str(_EXAMPLE["name"])
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
        if dry_run and to_file is None and not store.is_lake and not store.exists():
            # a fresh `newswatch init` folder before its first run: nothing is flagged yet,
            # so nothing would be sent; the preview says so instead of failing
            err_console.print(
                f"No database yet at {store.display}: nothing is flagged, so nothing would be "
                "sent (`newswatch run` creates it; --db names another).",
                markup=False,
                soft_wrap=True,
            )
            from newswatch.models import DigestStatus

            results = [
                DigestResult(name=d.name, status=DigestStatus.DRY_RUN)
                for d in digests
                if name in (None, d.name)
            ]
        elif to_file is not None:
            if name is None and len(digests) > 1:
                raise UsageError("--to-file writes one message: choose the digest with --name")
            digest = next(d for d in digests if name in (None, d.name))
            results = [send_digest(store, digest, smtp, to_file=to_file, labels=labels)]
        elif name is not None:
            digest = next(d for d in digests if d.name == name)
            results = [send_digest(store, digest, smtp, dry_run=dry_run, labels=labels)]
        else:
            results = send_due_digests(
                store, DigestsConfig(smtp=smtp, digests=digests), dry_run=dry_run, labels=labels
            )
    if fmt == "json":
        import dataclasses
        import json

        from newswatch.cli.output import jsonable

        out = {"dry_run": dry_run, "digests": [jsonable(dataclasses.asdict(r)) for r in results]}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for r in results:
        for line in _report(r, dry_run=dry_run):
            typer.echo(safe_text(line))


def register(app: typer.Typer) -> None:
    """Add ``digest`` to the newswatch command line."""
    app.command("digest", help=_HELP)(digest_command)

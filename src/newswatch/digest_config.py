"""Digest configuration: the ``smtp:`` and ``digests:`` sections of ``newswatch.yaml``.

Example::

    smtp:
      host: mail.example.org
      port: 587                 # default by tls mode: none 25, starttls 587, tls 465
      tls: starttls             # none / starttls / tls (implicit TLS)
      user: newswatch           # password: NEWSWATCH_SMTP_PASSWORD or password_block
      password_block: smtp-password   # a Prefect Secret block (optional)
      sender: "newswatch <newswatch@example.org>"
      timeout_seconds: 30
    digests:
      - name: morning
        recipients: [analyst@example.org]
        schedule: "0 7 * * mon-fri"
        timezone: Europe/Berlin
        actors: [north_korea, hezbollah]
        allegations: []
        min_score: 1.0
        include_actor_only: false
        max_items: 40

The password is never read from a file.
"""

from __future__ import annotations

import os
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newswatch.errors import ConfigError

__all__ = [
    "PASSWORD_ENV",
    "DigestSettings",
    "DigestsConfig",
    "SmtpSettings",
    "load_digest_settings",
    "smtp_password",
]

PASSWORD_ENV = "NEWSWATCH_SMTP_PASSWORD"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_address(v: str, what: str) -> str:
    v = v.strip()
    _, addr = parseaddr(v)
    if not addr or "@" not in addr or any(c in v for c in "\r\n"):
        raise ValueError(f"not an email address: {v!r} ({what})")
    return v


class SmtpSettings(_Model):
    """``smtp:`` in ``newswatch.yaml``. The password is never a setting: it comes from
    ``NEWSWATCH_SMTP_PASSWORD`` or, failing that, the Prefect Secret block ``password_block``."""

    host: str = "localhost"
    port: int | None = Field(None, ge=1, le=65535)  # default: 25 / 587 / 465 by tls mode
    tls: Literal["none", "starttls", "tls"] = "starttls"
    user: str | None = None
    password_block: str | None = None
    sender: str = "newswatch <newswatch@localhost>"
    timeout_seconds: float = Field(30.0, gt=0)
    ca_file: str | None = None  # extra CA certificate(s) to trust (a private relay)

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        return _check_address(v, "sender")

    @model_validator(mode="after")
    def _no_cleartext_password(self) -> SmtpSettings:
        if self.user and self.tls == "none" and self.host not in _LOOPBACK:
            raise ValueError(
                "user is set with tls: none, which would send the password unencrypted; "
                "use tls: starttls or tls"
            )
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.tls]

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]


_SUBJECT_FIELDS = {"name": "x", "count": 0, "articles": 0, "date": "2025-01-01"}


class DigestSettings(_Model):
    """One entry of ``digests:``. Empty filter lists mean "any"."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    recipients: tuple[str, ...] = Field(min_length=1)
    schedule: str | None = None  # cron, e.g. "0 7 * * mon-fri"; not needed when immediate
    timezone: str = "UTC"
    immediate: bool = False  # sent at the end of the polling pass that found new items
    actors: tuple[str, ...] = ()
    allegations: tuple[str, ...] = ()  # if set, an article must have one of these
    min_score: float = 0.0
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    include_actor_only: bool = True  # articles with an actor but no allegation
    max_items: int = Field(50, ge=1, le=1000)
    send_empty: bool = False  # send a "nothing new" mail for an empty period
    backfill_days: int = Field(7, ge=0)
    subject: str = "newswatch {name}: {count} new"

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(_check_address(r, "recipients") for r in v)
        if len(set(out)) != len(out):
            raise ValueError("a recipient is listed twice")
        return out

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = " ".join(v.split())
        try:
            CronSim(v, datetime(2025, 1, 1))
        except (CronSimError, ValueError) as e:
            raise ValueError(f"not a valid cron expression {v!r}: {e}") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        return v

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        if any(c in v for c in "\r\n"):
            raise ValueError("must be one line")
        try:
            v.format(**_SUBJECT_FIELDS)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"bad template ({e}); available fields: {', '.join('{' + k + '}' for k in _SUBJECT_FIELDS)}"
            ) from None
        return v

    @model_validator(mode="after")
    def _schedule_or_immediate(self) -> DigestSettings:
        if not self.immediate and self.schedule is None:
            raise ValueError("needs a schedule (cron) unless immediate: true")
        if self.immediate and self.send_empty:
            raise ValueError("send_empty makes no sense for an immediate digest")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DigestsConfig(_Model):
    """The ``smtp:`` and ``digests:`` sections (everything else in the file is ignored here)."""

    smtp: SmtpSettings = SmtpSettings()
    digests: list[DigestSettings] = []

    @field_validator("digests")
    @classmethod
    def _unique(cls, v: list[DigestSettings]) -> list[DigestSettings]:
        seen: set[str] = set()
        for d in v:
            if d.name in seen:
                raise ValueError(f"duplicate digest name {d.name!r}")
            seen.add(d.name)
        return v


def load_digest_settings(config_dir: str | Path) -> tuple[SmtpSettings, list[DigestSettings]]:
    """Read ``smtp:`` and ``digests:`` from ``<config_dir>/newswatch.yaml``."""
    from newswatch.config import format_validation_error, read_yaml

    path = Path(config_dir) / "newswatch.yaml"
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings at the top level", file=str(path))
    part = {k: data[k] for k in ("smtp", "digests") if data.get(k) is not None}
    try:
        cfg = DigestsConfig.model_validate(part)
    except ValidationError as e:
        entry, msg = format_validation_error(e, part)
        raise ConfigError(msg, file=str(path), entry=entry) from None
    return cfg.smtp, list(cfg.digests)


def smtp_password(smtp: SmtpSettings, environ: dict[str, str] | None = None) -> str | None:
    """The SMTP password: ``NEWSWATCH_SMTP_PASSWORD``, else the Prefect Secret block."""
    env = os.environ if environ is None else environ
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    if smtp.password_block:
        try:
            from prefect.blocks.system import Secret

            return str(Secret.load(smtp.password_block).get())
        except Exception as e:
            raise ConfigError(
                f"cannot load the Prefect Secret block {smtp.password_block!r}: {e}",
                entry="smtp.password_block",
            ) from None
    return None

"""Settings: every setting newswatch has, and the one loader that reads them.

``config/newswatch.yaml`` (all sections), ``config/sources.yaml`` (the feeds) and the path of
the watchlist (read by :mod:`newswatch.flagging.watchlist`). This module is the bottom of the
house: it imports nothing from the rest of newswatch but :mod:`newswatch.errors`.

Validated with pydantic. Every setting can be overridden from the environment, once, by
:func:`load_settings`: ``NEWSWATCH_<SECTION>_<FIELD>`` (for example
``NEWSWATCH_FETCH_TIMEOUT_SECONDS=5`` or ``NEWSWATCH_SMTP_HOST=mail.example.org``), plus the
short forms ``NEWSWATCH_DB`` and ``NEWSWATCH_ALLOW_PRIVATE_ADDRESSES``. Secrets (the SMTP
password) are read from the environment only, never from a file.

    newswatch.yaml ──▶ read_yaml ──▶ + NEWSWATCH_* overrides ──▶ Settings ──┐
    sources.yaml   ──▶ read_yaml ──▶ Source, …                           ├──▶ Config
    watchlist.yaml (path only) ─────────────────────────────────────────────┘

A bad file raises :class:`~newswatch.errors.ConfigError` naming the file, the entry and
what is wrong; the CLI turns it into one line and exit status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newswatch.errors import ConfigError

__all__ = [
    "PASSWORD_ENV",
    "Config",
    "DigestSettings",
    "DigestsConfig",
    "FetchSettings",
    "LakeSettings",
    "PipelineSettings",
    "PollingSettings",
    "RetentionSettings",
    "ServeSettings",
    "Settings",
    "SmtpSettings",
    "Source",
    "StorySettings",
    "WebSettings",
    "default_config_dir",
    "default_db_path",
    "describe_location",
    "format_validation_error",
    "load_config",
    "load_digest_settings",
    "load_settings",
    "load_sources",
    "read_yaml",
    "resolve_db",
    "shipped_config_dir",
]

ENV_PREFIX = "NEWSWATCH_"
DEFAULT_USER_AGENT = "newswatch/0.1 (media monitoring; +https://github.com/newswatch/newswatch)"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    """How newswatch talks to the web. Defaults are polite for the real web."""

    user_agent: str = DEFAULT_USER_AGENT
    timeout_seconds: float = Field(20.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_concurrency: int = Field(32, ge=1)
    per_host_concurrency: int = Field(2, ge=1)
    per_host_delay_seconds: float = Field(0.5, ge=0)
    max_response_bytes: int = Field(10_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0)
    retries: int = Field(2, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)
    max_retry_after_seconds: float = Field(120.0, ge=0)
    allow_private_addresses: bool = False
    # with the guard on, these are reachable all the same: networks or addresses (CIDR, e.g.
    # 10.1.2.0/24, 192.168.0.7) checked after DNS resolution, and host names (intranet.local)
    # however they resolve; checked again on every redirect
    allowed_networks: tuple[str, ...] = ()
    respect_robots_txt: bool = True
    # hosts for which the politeness limits above do not apply (e.g. a benchmark's own server)
    unthrottled_hosts: tuple[str, ...] = ()

    @field_validator("allowed_networks")
    @classmethod
    def _networks_or_hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        out = []
        for item in v:
            item = item.strip()
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                if not re.fullmatch(
                    r"(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", item
                ):
                    raise ValueError(
                        f"{item!r} is neither a network (CIDR), an address nor a host name"
                    ) from None
            out.append(item)
        return tuple(out)


class PipelineSettings(_Model):
    """How a polling pass is run."""

    # processes that extract and flag pages; 0 means one per CPU core
    workers: int = Field(0, ge=0)
    # trafilatura without its readability/jusText comparison ("fast"; the whole cascade only
    # where that finds too little text), or always the whole cascade ("full")
    extraction: Literal["fast", "full"] = "fast"
    # articles per write transaction: a batch pays a fixed ~0.2 s (open, the dedup and story
    # joins over the stored tables, commit, checkpoint on close), so 400 store a pass's
    # articles for ~65 % of the CPU of 200; larger batches raise the writer's peak memory
    # (docs/performance.md)
    batch_size: int = Field(400, ge=1)
    max_articles_per_feed: int = Field(200, ge=1)
    # articles in flight at once (bounds memory whatever the size of a run)
    max_in_flight: int = Field(64, ge=1)
    # rebuild the full-text index (DuckDB fts, not incremental) at the end of a pass that
    # stored articles, at most every fulltext_refresh_minutes (0: after every such pass)
    fulltext_index: bool = True
    fulltext_refresh_minutes: float = Field(60, ge=0)
    # how long a pass's feed leases last without renewal (several workers never fetch one
    # feed in one pass). A running pass renews them (and its heartbeat) every
    # min(30 s, lease_seconds / 4), so a dead worker's feeds are free again this long after
    # it died, whatever its host name, and a pass silent for 3 renewals is closed as crashed
    lease_seconds: int = Field(120, ge=10)


class RetentionSettings(_Model):
    """What is kept, and for how long. Flags, mentions and counts are kept for ever."""

    # article text older than this many days (by fetch time) is dropped; None keeps it for ever
    article_text_days: int | None = Field(None, ge=1)


class PollingSettings(_Model):
    # a new feed's first interval: short, so that a feed that publishes often is polled often
    # from its first day (after a first pass whose items were all new it is 7.5 minutes)
    initial_minutes: float = Field(15, gt=0)
    min_minutes: float = Field(5, gt=0)  # the default serve.poll_minutes: no shorter than that
    max_minutes: float = Field(1440, gt=0)
    max_backoff_minutes: float = Field(1440, gt=0)  # a failing feed is retried at least this often
    jitter: float = Field(0.1, ge=0, le=0.5)  # ± share of the interval

    @model_validator(mode="after")
    def _order(self) -> PollingSettings:
        if self.min_minutes > self.max_minutes:
            raise ValueError("min_minutes must not exceed max_minutes")
        return self


class StorySettings(_Model):
    """Clustering and spike parameters (``stories:`` in the settings file).

    Defaults were measured on the 50 labelled pairs in ``tests/stories/`` (5 languages):
    copies there have Jaccard >= 0.38 and containment >= 0.78, follow-ups and other events
    Jaccard <= 0.29 and containment <= 0.49. 42 bands x 3 rows make a pair with Jaccard 0.38
    a candidate with probability 0.91 (0.5: 0.996; 0.1: 0.04); 32 x 4 missed such pairs.
    With these defaults precision and recall on the set are both 1.0.
    """

    window_days: float = Field(7.0, gt=0, description="articles further apart never share a story")
    shingle_size: int = Field(5, ge=2, le=12, description="characters per shingle")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash values per signature")
    bands: int = Field(42, ge=1, description="LSH bands; bands * rows <= num_perm")
    rows: int = Field(3, ge=1, description="MinHash values per LSH band")
    max_chars: int = Field(50_000, ge=1000, description="text beyond this is not shingled")
    min_chars: int = Field(200, ge=0, description="shorter texts are shingled with their title")
    min_shingles: int = Field(30, ge=1, description="fewer shingles: no signature, own story")
    threshold: float = Field(0.5, gt=0, le=1, description="estimated Jaccard that makes a copy")
    containment: float = Field(
        0.7,
        gt=0,
        le=1,
        description="share of the shorter text found in the longer that makes a copy",
    )
    containment_min_jaccard: float = Field(
        0.2, ge=0, le=1, description="containment counts only above this Jaccard"
    )
    containment_min_shingles: int = Field(
        150,
        ge=1,
        description="containment counts only when the shorter text has this many shingles",
    )
    title_jaccard: float = Field(
        0.35, ge=0, le=1, description="with similar titles, this Jaccard is enough"
    )
    title_threshold: float = Field(0.5, ge=0, le=1, description="title similarity (char 3-grams)")
    # spikes (stored in trend_settings by apply_trend_settings)
    spike_window_days: int = Field(14, ge=1)
    spike_zscore: float = Field(3.0, gt=0)
    spike_min_stories: int = Field(3, ge=1)
    spike_min_history_days: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _bands_fit(self) -> StorySettings:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands * rows ({self.bands * self.rows}) exceeds num_perm ({self.num_perm})"
            )
        return self


class ServeSettings(_Model):
    """``serve:`` in ``newswatch.yaml``."""

    poll_minutes: float = Field(5.0, gt=0)  # the polling flow's interval
    digest_minutes: float = Field(5.0, gt=0)  # how often digests are checked (each has its cron)
    prefect_home: str | None = None  # default: <folder of the database>/prefect
    port: int | None = Field(None, ge=1, le=65535)  # local server's port; default: a free one
    # the address the local Prefect server listens on: 127.0.0.1 (this machine only), or
    # 0.0.0.0 in a container whose port is published (the Dockerfile sets it)
    host: str = "127.0.0.1"
    ui: bool = True  # the Prefect UI on the local server
    poll_at_start: bool = True  # a poll right away on start (and restart), not one interval later
    server_start_timeout_seconds: float = Field(180.0, gt=0)


class LakeSettings(_Model):
    """``lake:`` in ``newswatch.yaml``: upkeep of a DuckLake store (``newswatch lake maintain``)."""

    # snapshots older than this are expired: time travel reaches back this far
    snapshot_days: float = Field(7.0, gt=0)
    # a data file no snapshot needs any more is deleted once it has been unused this long
    # (a reader still on an older snapshot keeps working meanwhile)
    cleanup_hours: float = Field(1.0, ge=0)
    # a file in the data path that the catalog never named (the write of a process that died
    # or lost a conflict) is deleted once it is this old; never a write still in progress
    orphan_hours: float = Field(24.0, ge=1)


PASSWORD_ENV = "NEWSWATCH_SMTP_PASSWORD"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


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
    # leave out what an analyst marked false positive in the workbench (table verdicts)
    exclude_false_positives: bool = True

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


class WebSettings(_Model):
    """``web:``: the workbench that ``newswatch serve`` runs beside the schedules."""

    enabled: bool = True
    host: str = "127.0.0.1"  # another address needs NEWSWATCH_WEB_PASSWORD (see README)
    port: int = Field(8080, ge=1, le=65535)


class Settings(_Model):
    """``config/newswatch.yaml``."""

    database: str | None = None
    fetch: FetchSettings = FetchSettings()
    pipeline: PipelineSettings = PipelineSettings()
    polling: PollingSettings = PollingSettings()
    stories: StorySettings = StorySettings()
    retention: RetentionSettings = RetentionSettings()
    serve: ServeSettings = ServeSettings()
    web: WebSettings = WebSettings()
    lake: LakeSettings = LakeSettings()
    smtp: SmtpSettings = SmtpSettings()
    digests: tuple[DigestSettings, ...] = ()

    @field_validator("digests")
    @classmethod
    def _unique_digests(cls, v: tuple[DigestSettings, ...]) -> tuple[DigestSettings, ...]:
        names = [d.name for d in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate digest name {dupes[0]!r}")
        return v


class Source(_Model):
    """One feed in ``config/sources.yaml``."""

    name: str = Field(min_length=1)
    url: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not (v.startswith("http://") or v.startswith("https://")) or len(v) < 11:
            raise ValueError("must be an absolute http:// or https:// URL")
        return v

    @field_validator("name")
    @classmethod
    def _strip_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v


class _SourcesFile(_Model):
    sources: list[Source]


@dataclass(frozen=True)
class Config:
    """Everything a run needs, built once in the entry point and passed in."""

    config_dir: Path
    settings: Settings
    sources: tuple[Source, ...]
    watchlist_path: Path

    @property
    def db(self) -> str:
        return self.settings.database or str(default_db_path())


def default_config_dir() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "CONFIG", "config"))


def default_db_path() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "DB", "data/newswatch.duckdb"))


def resolve_db(
    config_dir: Path | str | None = None, db: str | None = None, *, strict: bool = False
) -> str:
    """The database a command uses: ``--db``, else ``NEWSWATCH_DB``, else ``database:`` in
    ``<config_dir>/newswatch.yaml``, else ``data/newswatch.duckdb``.

    With ``strict=False`` (commands that only read), a broken newswatch.yaml is passed over
    rather than stopping a query that does not need it."""
    if db:
        return db
    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    path = cdir / "newswatch.yaml"
    try:
        settings = load_settings(path if path.exists() else None)
    except ConfigError:
        if strict:
            raise
        return str(default_db_path())
    return settings.database or str(default_db_path())


def read_yaml(path: Path) -> Any:
    """Read a YAML file; a missing file or a syntax error is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read: {e}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"invalid YAML: {problem}", file=str(path), entry=where) from None


def describe_location(
    loc: Sequence[Any],
    data: Any,
    *,
    keys: Sequence[str] = ("name", "id"),
    skip: Callable[[Any], bool] | None = None,
) -> str:
    """``sources[3] (name: 'Yonhap').url`` from a pydantic error location, naming list
    entries by the first of ``keys`` they have; ``skip`` drops parts that are not places in
    the file (pydantic's names for union branches)."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            try:
                node = node[item]
                key = next((k for k in keys if isinstance(node, dict) and node.get(k)), None)
                if key is not None:
                    label = f"[{item}] ({key}: {node[key]!r})"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        elif skip is not None and skip(item):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def format_validation_error(
    e: ValidationError, data: Any, *, list_key: str | None = None
) -> tuple[str, str]:
    """Turn the first pydantic error into (entry, message), naming list entries by name."""
    err = e.errors()[0]
    entry = describe_location(err["loc"], data)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting (check the spelling)"
    elif err["type"] == "missing":
        msg = "required but missing"
    return entry, msg


def _env_overrides(model: type[BaseModel], prefix: str, environ: dict[str, str]) -> dict[str, Any]:
    """Collect NEWSWATCH_<PATH> overrides for every field of ``model`` (recursively)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}".upper()
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = _env_overrides(ann, f"{prefix}{name}_", environ)
            if sub:
                out[name] = sub
        elif key in environ:
            raw = environ[key]
            try:
                value = yaml.safe_load(raw) if raw.strip() else None
            except yaml.YAMLError:
                value = raw
            if isinstance(value, str) and ann in (tuple[str, ...],):
                value = [v.strip() for v in value.split(",") if v.strip()]
            out[name] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def load_settings(path: Path | None, environ: dict[str, str] | None = None) -> Settings:
    """Load ``newswatch.yaml`` (optional) and apply environment overrides."""
    environ = dict(os.environ if environ is None else environ)
    data: Any = {}
    file_label = str(path) if path else "environment"
    if path is not None and path.exists():
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping of settings at the top level", file=file_label)
    # short forms
    if ENV_PREFIX + "DB" in environ:
        environ.setdefault(ENV_PREFIX + "DATABASE", environ[ENV_PREFIX + "DB"])
    if ENV_PREFIX + "ALLOW_PRIVATE_ADDRESSES" in environ:
        environ.setdefault(
            ENV_PREFIX + "FETCH_ALLOW_PRIVATE_ADDRESSES",
            environ[ENV_PREFIX + "ALLOW_PRIVATE_ADDRESSES"],
        )
    overrides = _env_overrides(Settings, ENV_PREFIX, environ)
    merged = _merge(data, overrides)
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        entry, msg = format_validation_error(e, merged)
        # say whether the bad value came from the environment
        top = entry.split(".")[0].split("[")[0]
        if top in overrides:
            file_label = f"{file_label} (or a {ENV_PREFIX}{top.upper()}_* environment variable)"
        raise ConfigError(msg, file=file_label, entry=entry) from None


def load_sources(path: Path) -> tuple[Source, ...]:
    """Load ``sources.yaml``: a top-level ``sources:`` list of feeds with unique names."""
    data = read_yaml(path)
    if not isinstance(data, dict) or "sources" not in data:
        raise ConfigError("expected a top-level 'sources:' list", file=str(path))
    try:
        parsed = _SourcesFile.model_validate(data)
    except ValidationError as e:
        entry, msg = format_validation_error(e, data)
        raise ConfigError(msg, file=str(path), entry=entry) from None
    seen: dict[str, int] = {}
    for i, s in enumerate(parsed.sources):
        if s.name in seen:
            raise ConfigError(
                f"duplicate source name (also at sources[{seen[s.name]}])",
                file=str(path),
                entry=f"sources[{i}] (name: {s.name!r})",
            )
        seen[s.name] = i
    return tuple(parsed.sources)


def load_config(config_dir: Path | str | None = None, *, db: str | None = None) -> Config:
    """Load and validate the whole configuration directory. Writes nothing."""
    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    if not cdir.is_dir():
        raise ConfigError("configuration directory not found", file=str(cdir))
    settings = load_settings(cdir / "newswatch.yaml")
    if db is not None:
        settings = settings.model_copy(update={"database": db})
    sources = load_sources(cdir / "sources.yaml")
    watchlist_path = cdir / "watchlist.yaml"
    if not watchlist_path.exists():
        raise ConfigError("file not found", file=str(watchlist_path))
    return Config(
        config_dir=cdir, settings=settings, sources=sources, watchlist_path=watchlist_path
    )


class DigestsConfig(_Model):
    """What the digest senders need: the ``smtp:`` and ``digests:`` sections."""

    smtp: SmtpSettings = SmtpSettings()
    digests: tuple[DigestSettings, ...] = ()


def load_digest_settings(
    config_dir: str | Path, environ: dict[str, str] | None = None
) -> tuple[SmtpSettings, list[DigestSettings]]:
    """``smtp:`` and ``digests:`` of ``<config_dir>/newswatch.yaml``, overrides applied: the same
    reader as every other setting, so ``NEWSWATCH_SMTP_HOST`` reaches every sender."""
    settings = load_settings(Path(config_dir) / "newswatch.yaml", environ)
    return settings.smtp, list(settings.digests)


def shipped_config_dir() -> Path:
    """The default configuration shipped with newswatch (the repository's config/)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "default_config", here.parent.parent / "config"):
        if (cand / "watchlist.yaml").exists():
            return cand
    raise ConfigError(
        "the default configuration is missing from this installation",
        file=str(here / "default_config"),
    )

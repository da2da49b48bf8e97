"""The watchlist: which actors and allegations to flag (``config/watchlist.yaml``).

A watchlist is data an analyst edits; :mod:`newswatch.flagging.matcher` compiles it into a matcher.

    version: 3
    actors:
      - id: hamas                       # lower-case letters, digits, underscores
        name: Hamas
        aliases: {en: [Hamas, Qassam Brigades], ar: [حماس], ko: [하마스]}
        exclude: [Hamas Hamasi]         # phrases that look like the actor but are not
        weight: 1.0
    allegations:
      - id: tunnel_network
        name: Hamas tunnel network
        terms: {en: [tunnel*, Hamas Metro], ar: [أنفاق]}
        exclude: {en: [tunnel vision]}  # phrases holding a term that are not the allegation
        rule:
          actors: [hamas]               # or: any
          with: [hezbollah]             # optional: a second, different actor near too
          near: same_sentence           # or {within_words: 20} or {within_sentences: 1}
          cues: {en: [transfer*, suppl*]}   # optional: one of these must be near too
          not: {en: [boring machine]}   # optional: none of these may be near
        weight: 2.0

Phrases: case and accents do not matter; a trailing ``*`` matches any word ending
(``Hisbollah*`` matches "Hisbollahs"). There are no regular expressions: a phrase that
looks like one (``Hez(b|bb)ollah``, ``[ou]``) is refused; list each spelling instead.

Languages: an actor's aliases are looked for in every article, whatever its language
(names travel), but an allegation's terms, cues and ``not`` terms count only in text of
their own language (``former`` in a French list never fires on English text). The key
``any`` means every language. When an article's language is unknown, or is one the
watchlist has no terms for, every language's terms count.

An alias may carry conditions (a *context rule*), for names that are also common words
or that another group bears too::

    aliases:
      tr:
        - Hizbullah*
        - phrase: Hizbullah*                  # Turkey's Kurdish Hizbullah is another group
          unless: [HÜDA PAR, Velioğlu, Diyarbakır]
          window: article                     # anywhere in the title or text
      fa:
        - phrase: جهاد سازندگی                 # Iran's own Construction Jihad, unless…
          near: [لبنان]                        # …a context word is near
          near_actors: [hezbollah]             # …or a mention of another actor
          window: {within_words: 8}            # default: same_sentence
      zh:
        - {phrase: 朝鲜, same_language: true}  # only in Chinese text (Japanese 朝鮮 ≠ DPRK)

When the same phrase is listed under several languages, the entry of the article's own
language decides; in an article of another or unknown language, any entry may.

:func:`load_watchlist` raises :class:`~newswatch.errors.ConfigError` naming the entry,
e.g. ``actors[3] (id: 'komid').aliases.ko[0]: must not be empty``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from newswatch.errors import ConfigError
from newswatch.flagging.textnorm import normalize_phrase
from newswatch.settings import describe_location, read_yaml

__all__ = [
    "Actor",
    "AliasRule",
    "Allegation",
    "Near",
    "Rule",
    "Source",
    "SourceKind",
    "Watchlist",
    "Window",
    "did_you_mean",
    "load_watchlist",
    "parse_watchlist",
    "unknown_id_message",
]

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_LANG = re.compile(r"^(?:[a-z]{2,3}|any)$")


# characters that mean something in a regular expression and nothing in a phrase
_REGEX_CHARS = "()[]{}|\\^$?+"


def _check_phrase(v: str) -> str:
    v = v.strip()
    core = v.removesuffix("*")
    found = [c for c in _REGEX_CHARS if c in core]
    if ".*" in v:
        found.insert(0, ".*")
    if found:
        shown = ", ".join(f"'{c}'" for c in found)
        raise ValueError(
            f"looks like a regular expression ({shown}): the watchlist has no regular "
            "expressions; list each spelling as its own phrase (Hezbollah, Hizbollah), "
            "and end a phrase with * for any word ending"
        )
    if not normalize_phrase(core).replace("'", "").strip():
        raise ValueError("must not be empty (a phrase needs at least one letter or digit)")
    if "*" in core:
        raise ValueError("'*' may only end a phrase (it matches any word ending)")
    return v


Phrase = Annotated[str, AfterValidator(_check_phrase)]


def _lang_key(v: str) -> str:
    if not _LANG.match(v):
        raise ValueError(
            f"{v!r} is not a language code (two or three lower-case letters, or 'any')"
        )
    return v


LangKey = Annotated[str, AfterValidator(_lang_key)]
Phrases = dict[LangKey, tuple[Phrase, ...]]


def _list_means_any(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return {"any": list(v)}
    if isinstance(v, str):
        return {"any": [v]}
    return v


def _one_or_many(v: Any) -> Any:
    """Let a language hold a single phrase: ``en: Hamas``."""
    if isinstance(v, dict):
        return {k: [x] if isinstance(x, str) else x for k, x in v.items()}
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_id(v: str) -> str:
    if not _ID.match(v):
        raise ValueError(
            "must be lower-case letters, digits and underscores, starting with a letter"
        )
    return v


def _one_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _window(v: Any) -> Any:
    if v is None or v == "same_sentence":
        return {}
    if v == "article":
        return {"article": True}
    if isinstance(v, str):
        raise ValueError(
            "must be same_sentence, article, {within_words: N} or {within_sentences: N}"
        )
    return v


class Window(_Model):
    """Where an alias's context words must stand: same sentence, N words, N sentences or
    anywhere in the article (title and text)."""

    within_words: int | None = Field(None, ge=1)
    within_sentences: int | None = Field(None, ge=0)
    article: bool = False

    @model_validator(mode="after")
    def _one(self) -> Window:
        given = [self.within_words is not None, self.within_sentences is not None, self.article]
        if sum(given) > 1:
            raise ValueError("give one of within_words, within_sentences or article")
        return self

    def describe(self) -> str:
        if self.article:
            return "anywhere in the article"
        if self.within_words is not None:
            return f"within {self.within_words} words"
        if self.within_sentences:
            return f"within {self.within_sentences} sentences"
        return "in the same sentence"


class AliasRule(_Model):
    """An alias that counts only under conditions (a context rule).

    ``near`` / ``near_actors``: one of these context phrases, or a mention of one of these
    actors, must stand within ``window``; ``unless``: none of these phrases may;
    ``same_language``: the alias counts only in text of its own language.
    """

    phrase: Phrase
    near: Annotated[tuple[Phrase, ...], BeforeValidator(_one_list)] = ()
    near_actors: Annotated[tuple[str, ...], BeforeValidator(_one_list)] = ()
    unless: Annotated[tuple[Phrase, ...], BeforeValidator(_one_list)] = ()
    window: Annotated[Window, BeforeValidator(_window)] = Window()
    same_language: bool = False

    @model_validator(mode="after")
    def _some_condition(self) -> AliasRule:
        if not (self.near or self.near_actors or self.unless or self.same_language):
            raise ValueError(
                "a context rule needs near, near_actors, unless or same_language "
                "(without them, write the phrase alone)"
            )
        return self

    def describe(self) -> str:
        parts = []
        if self.near or self.near_actors:
            what = [*self.near, *(f"actor {a}" for a in self.near_actors)]
            parts.append("needs " + " or ".join(what) + " " + self.window.describe())
        if self.unless:
            parts.append("not with " + " or ".join(self.unless) + " " + self.window.describe())
        if self.same_language:
            parts.append("only in its own language")
        return "; ".join(parts)


def _entry_kind(v: Any) -> str:
    return "rule-entry" if isinstance(v, (dict, AliasRule)) else "phrase-entry"


_ENTRY_TAGS = ("rule-entry", "phrase-entry")  # pydantic's names for the branches (not shown)
AliasEntry = Annotated[
    Annotated[Phrase, Tag("phrase-entry")] | Annotated[AliasRule, Tag("rule-entry")],
    Discriminator(_entry_kind),
]
AliasPhrases = dict[LangKey, tuple[AliasEntry, ...]]


def _alias_one_or_many(v: Any) -> Any:
    """``en: Hamas`` or ``en: {phrase: …}``: one entry, as a list."""
    if isinstance(v, dict):
        return {k: [x] if isinstance(x, (str, dict)) else x for k, x in v.items()}
    return v


class Actor(_Model):
    """A tracked actor: a state, organisation or company, under every name it goes by."""

    id: Annotated[str, AfterValidator(_check_id)]
    name: str = Field(min_length=1)
    description: str | None = None
    aliases: Annotated[AliasPhrases, BeforeValidator(_alias_one_or_many)]
    exclude: Annotated[
        Phrases, BeforeValidator(_one_or_many), BeforeValidator(_list_means_any)
    ] = {}
    weight: float = Field(1.0, gt=0)

    @field_validator("aliases")
    @classmethod
    def _some_alias(cls, v: AliasPhrases) -> AliasPhrases:
        if not any(v.values()):
            raise ValueError("an actor needs at least one alias")
        return v

    def alias_entries(self) -> list[tuple[str, str, AliasRule | None]]:
        """Every alias as ``(language, phrase, context rule or None)``."""
        out: list[tuple[str, str, AliasRule | None]] = []
        for lang, entries in self.aliases.items():
            for e in entries:
                if isinstance(e, AliasRule):
                    out.append((lang, e.phrase, e))
                else:
                    out.append((lang, e, None))
        return out


class Near(_Model):
    """How close the pieces of an allegation must be: same sentence, N words or N sentences."""

    within_words: int | None = Field(None, ge=1)
    within_sentences: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Near:
        if self.within_words is not None and self.within_sentences is not None:
            raise ValueError("give either within_words or within_sentences, not both")
        return self

    @property
    def same_sentence(self) -> bool:
        return self.within_words is None and not self.within_sentences

    def describe(self) -> str:
        if self.within_words is not None:
            return f"within {self.within_words} words"
        if self.within_sentences:
            return f"within {self.within_sentences} sentences"
        return "same sentence"


def _near(v: Any) -> Any:
    if v is None or v == "same_sentence":
        return {}
    if isinstance(v, str):
        raise ValueError("must be same_sentence, {within_words: N} or {within_sentences: N}")
    return v


class Rule(_Model):
    """When an allegation's terms count: near which actors, with which cues."""

    actors: Literal["any"] | tuple[str, ...] = "any"
    with_actors: tuple[str, ...] = Field((), alias="with")
    near: Annotated[Near, BeforeValidator(_near)] = Near()
    cues: Annotated[Phrases, BeforeValidator(_one_or_many), BeforeValidator(_list_means_any)] = {}
    not_terms: Annotated[
        Phrases, BeforeValidator(_one_or_many), BeforeValidator(_list_means_any)
    ] = Field({}, alias="not")

    @field_validator("actors", mode="before")
    @classmethod
    def _actors(cls, v: Any) -> Any:
        if isinstance(v, str) and v != "any":
            return (v,)
        return v


class Allegation(_Model):
    """An allegation: terms that count only near tracked actors, per its rule."""

    id: Annotated[str, AfterValidator(_check_id)]
    name: str = Field(min_length=1)
    description: str | None = None
    terms: Annotated[Phrases, BeforeValidator(_one_or_many)]
    exclude: Annotated[
        Phrases, BeforeValidator(_one_or_many), BeforeValidator(_list_means_any)
    ] = {}
    rule: Rule = Rule()
    weight: float = Field(1.0, gt=0)

    @field_validator("terms")
    @classmethod
    def _some_term(cls, v: Phrases) -> Phrases:
        if not any(v.values()):
            raise ValueError("an allegation needs at least one term")
        return v


SourceKind = Literal[
    "think_tank", "government", "military", "intelligence", "media", "international",
    "person", "anonymous",
]  # fmt: skip


class Source(_Model):
    """A named source allegations are attributed to ("according to …", "… said"), for
    :mod:`newswatch.flagging.attribution`. A source whose id is a tracked actor's id is
    that actor: the actor's aliases count too. Kind ``anonymous`` lists the words of
    unnamed sources ("officials", "관계자"); its attributions are stored without an id."""

    id: Annotated[str, AfterValidator(_check_id)]
    name: str = Field(min_length=1)
    kind: SourceKind
    aliases: Annotated[Phrases, BeforeValidator(_one_or_many)] = {}


class Watchlist(_Model):
    """The whole watchlist file."""

    version: str | int | None = None
    description: str | None = None
    actors: tuple[Actor, ...]
    allegations: tuple[Allegation, ...] = ()
    sources: tuple[Source, ...] = ()

    @property
    def content_hash(self) -> str:
        """Hash of what the watchlist says (not of its comments or layout). ``sources``
        are left out: they decide attributions, not flags."""
        blob = json.dumps(
            self.model_dump(mode="json", by_alias=True, exclude={"sources"}),
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def labels(self) -> dict[str, str]:
        """Display names by id, for sources, actors and allegations (digests show these);
        an actor's name wins over a source that shares its id."""
        entries: tuple[Source | Actor | Allegation, ...] = (
            *self.sources,
            *self.actors,
            *self.allegations,
        )
        return {e.id: e.name for e in entries if e.name}

    def actor(self, actor_id: str) -> Actor:
        for a in self.actors:
            if a.id == actor_id:
                return a
        raise KeyError(actor_id)


def _label(loc: tuple[Any, ...], data: Any) -> str:
    """``actors[3] (id: 'komid').aliases.ko[0]`` from a pydantic location."""
    return describe_location(loc, data, keys=("id",), skip=_union_branch)


def _union_branch(item: Any) -> bool:
    """pydantic's names for union branches, not places in the file."""
    return item in _ENTRY_TAGS or str(item).startswith(("function-", "literal[", "tuple[", "str"))


def parse_watchlist(data: Any, *, file: str = "watchlist") -> Watchlist:
    """Validate watchlist data (as read from YAML); ConfigError naming the entry if wrong."""
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with an 'actors:' list at the top level", file=file)
    try:
        wl = Watchlist.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling)"
        elif err["type"] == "missing":
            msg = "required but missing"
        raise ConfigError(msg, file=file, entry=_label(tuple(err["loc"]), data)) from None
    _check_references(wl, data, file)
    return wl


def _check_references(wl: Watchlist, data: Any, file: str) -> None:
    seen: dict[str, str] = {}
    groups: tuple[tuple[str, tuple[Actor | Allegation, ...]], ...] = (
        ("actors", wl.actors),
        ("allegations", wl.allegations),
    )
    for kind, items in groups:
        for i, item in enumerate(items):
            where = f"{kind}[{i}] (id: {item.id!r})"
            if item.id in seen:
                raise ConfigError(f"duplicate id (also at {seen[item.id]})", file=file, entry=where)
            seen[item.id] = where
    actor_ids = {a.id for a in wl.actors}
    source_at: dict[str, int] = {}
    for i, src in enumerate(wl.sources):
        where = f"sources[{i}] (id: {src.id!r})"
        if src.id in source_at:
            raise ConfigError(
                f"duplicate id (also at sources[{source_at[src.id]}])", file=file, entry=where
            )
        source_at[src.id] = i
        if src.id in seen and src.id not in actor_ids:
            raise ConfigError(f"id of an allegation ({seen[src.id]})", file=file, entry=where)
        if src.id not in actor_ids and not any(src.aliases.values()):
            raise ConfigError("a source needs at least one alias", file=file, entry=where)
    for i, actor in enumerate(wl.actors):
        for lang, entries in actor.aliases.items():
            for j, e in enumerate(entries):
                if not isinstance(e, AliasRule):
                    continue
                for k, aid in enumerate(e.near_actors):
                    if aid not in actor_ids or aid == actor.id:
                        msg = (
                            f"an alias cannot need its own actor {aid!r}"
                            if aid == actor.id
                            else unknown_id_message("actor", aid, actor_ids)
                        )
                        raise ConfigError(
                            msg,
                            file=file,
                            entry=f"actors[{i}] (id: {actor.id!r}).aliases.{lang}[{j}]"
                            f".near_actors[{k}]",
                        )
    for i, al in enumerate(wl.allegations):
        where = f"allegations[{i}] (id: {al.id!r}).rule"
        lists = [
            ("actors", () if al.rule.actors == "any" else al.rule.actors),
            ("with", al.rule.with_actors),
        ]
        for key, ids in lists:
            for j, aid in enumerate(ids):
                if aid not in actor_ids:
                    raise ConfigError(
                        unknown_id_message("actor", aid, actor_ids),
                        file=file,
                        entry=f"{where}.{key}[{j}]",
                    )


def did_you_mean(word: str, choices: Any) -> str | None:
    """The known id closest to ``word`` (a typo, another spelling), or None."""
    choices = sorted(set(choices))
    w = word.strip().lower().replace("-", "_").replace(" ", "_")
    if w in choices:
        return w
    close = difflib.get_close_matches(w, choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    # a prefix or a part: "korea" -> north_korea, "jihad" -> jihad_construction_foundation
    parts = [c for c in choices if w and (c.startswith(w) or f"_{w}" in c or w in c.split("_"))]
    return parts[0] if len(parts) == 1 else None


def unknown_id_message(kind: str, word: str, choices: Any) -> str:
    """``unknown actor id 'hezbolah' (did you mean 'hezbollah'?)``, else the known ids."""
    guess = did_you_mean(word, choices)
    if guess is not None:
        return f"unknown {kind} id {word!r} (did you mean {guess!r}?)"
    return f"unknown {kind} id {word!r} (known: {', '.join(sorted(set(choices)))})"


def load_watchlist(path: Path | str) -> Watchlist:
    """Read and validate a watchlist YAML file."""
    path = Path(path)
    return parse_watchlist(read_yaml(path), file=str(path))


def watchlist_labels(path: Path | str) -> dict[str, str]:
    """Display names by id from a watchlist file; {} when it cannot be read (ids are shown)."""
    try:
        return load_watchlist(path).labels
    except Exception:
        return {}

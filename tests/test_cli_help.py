"""Every command's --help in one layout, readable on an 80-column terminal: prose reflowed
(not broken at the docstring's line ends), an Examples heading, and examples that fit."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.cli.app import tidy_help

runner = CliRunner()


def _commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    out = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        out += [[name, sub] for sub in subs] if subs else [[name]]
    return out


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_help_fits_80_columns_with_examples(words):
    r = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    text = r.stdout.split("\n╭")[0]  # the description, before the option panels
    lines = [x.rstrip() for x in text.splitlines()]
    assert " Examples" in lines, f"{' '.join(words)} --help has no examples"
    assert "``" not in text, f"{' '.join(words)} --help shows reST markup from a docstring"
    at = lines.index(" Examples")
    prose, examples = lines[:at], lines[at + 1 :]
    # examples: one per line, indented, none wrapped (a wrapped one goes on at column 1);
    # a paragraph of prose may follow them, starting with a sentence
    shown = [x for x in examples if x.strip()]
    assert shown and shown[0].startswith("   "), words
    end = next((i for i, x in enumerate(examples) if x.strip() and not x.startswith("   ")), None)
    if end is not None:
        assert re.match(r" [A-Z][a-z]", examples[end]), (words, examples[end])
        prose += ["", *examples[end:]]
    # prose: a paragraph's lines fill the width; a broken docstring line leaves a short
    # line followed by the rest of its sentence
    paragraph: list[str] = []
    for x in [*prose, ""]:
        if x.strip():
            paragraph.append(x.rstrip())
            continue
        for short in paragraph[:-1]:
            assert len(short) > 50, (words, short, paragraph)
        paragraph = []


def test_tidy_help_reflows_prose_and_keeps_examples():
    text = """First line.

    A sentence broken
    over two lines.

    \b
    Examples:
      newswatch x --a
      newswatch x --b

    Then a closing sentence
    on two lines.
    """
    assert tidy_help(text) == (
        "First line.\n\nA sentence broken over two lines.\n\n[bold]Examples[/bold]\n\n"
        "  newswatch x --a\n  newswatch x --b\n\nThen a closing sentence on two lines."
    )
    # examples right under the first line keep their indent (Typer dedents what follows
    # the first paragraph, its first line aside)
    assert tidy_help("Summary.\n\nExamples:\n\n    newswatch y\n\n    newswatch z\n") == (
        "Summary.\n\n\n[bold]Examples[/bold]\n\n  newswatch y\n  newswatch z"
    )


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_usage_names_arguments_as_the_readme_does(words):
    # `newswatch story [OPTIONS] STORY_ID`, not `{story_id}`: the README's table spells
    # every argument in capitals
    r = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    usage = next(x for x in r.stdout.splitlines() if "Usage:" in x)
    args = usage.split("[OPTIONS]", 1)[1].split()
    for a in args:
        assert re.fullmatch(r"[\[{]?[A-Z_]+[\]}]?(\.\.\.)?", a), (words, usage)

"""The one chart module (newswatch.digest.chart): trends --plot and the digest's chart are
small multiples drawn from real DuckDB stores; the figures are inspected, the PNGs read."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.digest.chart import Panel, png_bytes, small_multiples
from newswatch.digest.deliver import chart_counts
from newswatch.digest.render import chart_figure, render_chart
from newswatch.reports.trends import spike_rows, trend_figure, trend_rows
from test_digest import digest, make_db, server  # noqa: F401 (server is a fixture)
from test_trends import WATCHLIST, build, rec

LABELS = {
    "acme": "Acme Corporation",
    "globex": "Globex",
    "fraud": "Accounting fraud",
    "bribery": "Bribery of officials",
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(tmp_path):
    recs = [rec(f"q{d}", d, "x", ["acme"]) for d in range(1, 10)]  # one story a day
    recs += [rec(f"s{i}", 10, "xyz"[i % 3], ["acme"], ["fraud"]) for i in range(6)]  # a burst
    recs += [rec("b1", 9, "y", ["acme"], ["fraud", "bribery"]), rec("g1", 8, "k", ["globex"])]
    return build(tmp_path / "t.duckdb", recs)


def _drawn(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def _heights(ax) -> list[int]:
    """The drawn bars' heights, one per day of the axis (0 where no bar is drawn)."""
    from matplotlib.dates import num2date

    (bars,) = ax.collections
    lo, hi = ax.get_xlim()
    first = num2date(lo + 0.6).date()
    out = [0] * (round(hi - lo - 1.2) + 1)
    for path in bars.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        day = num2date((xs.min() + xs.max()) / 2).date()
        assert ys.min() == 0
        out[(day - first).days] = int(ys.max())
    return out


def _rows(store, **kw):
    with store.reader() as con:
        start, end, rows = trend_rows(con, days=10, **kw)
        spikes = spike_rows(con, days=10, end=end)
    return start, rows, spikes


def test_trend_figure_is_small_multiples_with_display_names(store):
    start, rows, spikes = _rows(store)
    assert [r.entity_id for r in rows] == ["acme", "fraud", "globex", "bribery"]
    fig = trend_figure(start, rows, spikes, labels=LABELS)
    axes = _drawn(fig)
    assert len(axes) == 4  # one panel each; the grid has no other drawn cell
    assert [ax.get_title(loc="left") for ax in axes] == [
        "Acme Corporation",
        "Accounting fraud",
        "Globex",
        "Bribery of officials",
    ]
    assert [ax.get_title(loc="right") for ax in axes] == [str(r.stories) for r in rows]
    # one time axis and one count axis for all panels
    first = axes[0]
    for ax in axes[1:]:
        assert first.get_shared_x_axes().joined(first, ax)
        assert first.get_shared_y_axes().joined(first, ax)
        assert ax.get_xlim() == first.get_xlim() and ax.get_ylim() == first.get_ylim()
    lo, hi = first.get_ylim()
    ticks = [t for t in first.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    assert hi >= max(max(r.series) for r in rows)
    # one bar per day with stories, the spike day (10 May, acme) in the darker shade
    assert _heights(first) == list(rows[0].series)
    (bars,) = first.collections
    colours = [tuple(c) for c in bars.get_facecolors()]
    assert colours[-1] != colours[0] and len(set(colours[:-1])) == 1


def test_the_legend_sits_outside_every_panel(store):
    start, rows, spikes = _rows(store)
    fig = trend_figure(start, rows, spikes, labels=LABELS)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["stories per day", "spike"]
    box = legend.get_window_extent(renderer)
    for ax in _drawn(fig):
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title(loc="left")
        for title in (ax.title, *ax.texts):
            assert not box.overlaps(title.get_window_extent(renderer))


def test_ids_stand_in_for_names_the_watchlist_lacks(store):
    start, rows, spikes = _rows(store)
    fig = trend_figure(start, rows, spikes, labels={"acme": "Acme Corporation"})
    assert [ax.get_title(loc="left") for ax in _drawn(fig)][:2] == ["Acme Corporation", "fraud"]


def test_top_panels_and_other_counts(store):
    start, rows, spikes = _rows(store, count="articles")
    fig = trend_figure(start, rows, spikes, labels=LABELS, top=2)
    axes = _drawn(fig)
    assert len(axes) == 2 and "the 2 largest of 4" in fig.texts[0].get_text()
    assert fig.texts[0].get_text().startswith("Articles per day")
    (legend,) = fig.legends  # spikes are found on stories: none marked on articles
    assert [t.get_text() for t in legend.get_texts()] == ["articles per day"]


def test_no_rows_draws_one_empty_panel(store):
    fig = trend_figure(date(2024, 5, 1), [], [])
    assert len(_drawn(fig)) == 1 and not fig.legends
    assert [t.get_text() for t in fig.axes[0].texts] == ["nothing flagged in this period"]
    assert png_bytes(fig).startswith(PNG)


def test_names_are_text_not_mathtext():
    # with mathtext on, this label fails to render ("Unknown symbol")
    days = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
    fig = small_multiples(days, [Panel(r"cost $\notacommand$ and $5", (0, 1, 2))])
    assert png_bytes(fig).startswith(PNG)
    with pytest.raises(ValueError, match="3 counts for 2 days"):
        small_multiples(days[:2], [Panel("x", (0, 1, 2))])


def test_trends_plot_writes_a_png_with_display_names(store, tmp_path):
    cdir = tmp_path / "config"
    cdir.mkdir()
    (cdir / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    png = tmp_path / "out" / "trends.png"
    result = CliRunner().invoke(
        app, ["trends", "--db", store.target, "-c", str(cdir), "--days", "10", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert f"Chart written to {png}" in result.output
    data = png.read_bytes()
    assert data.startswith(PNG)
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.shape[1] == 1100 and pixels.shape[0] > 300  # 10 in at 110 dpi, 2 rows
    result = CliRunner().invoke(app, ["trends", "--db", store.target, "--plot", str(tmp_path)])
    assert result.exit_code == 2 and "Error: --plot" in result.output


def test_digest_chart_uses_the_same_small_multiples(tmp_path):
    store = make_db(tmp_path / "nw.duckdb")
    d = digest()
    with store.reader() as con:
        dates, series = chart_counts(con, d)
    labels = {"north_korea": "North Korea", "hezbollah": "Hezbollah", "iran": "Iran"}
    fig = chart_figure(dates, series, labels=labels)
    axes = _drawn(fig)
    assert [ax.get_title(loc="left") for ax in axes] == [
        "North Korea",
        "Hezbollah",
        "Hamas",  # no display name given: the id, made readable
        "Iran",
    ]
    assert [ax.get_title(loc="right") for ax in axes] == [
        "1",
        "1",
        "3",
        "2",
    ]  # articles: a4 copies a3
    assert [sum(_heights(ax)) for ax in axes] == [1, 1, 3, 2]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["flagged articles per day"]
    data = render_chart(dates, series, labels=labels)
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.shape[1] == 900  # 6 in at 150 dpi, shown at 600 px in the mail


def _description(png: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return im.text.get("Description", "")  # type: ignore[attr-defined]


def test_a_long_name_is_shortened_never_overlapping_its_total():
    days = [date(2024, 5, 1) + timedelta(days=i) for i in range(5)]
    long = "North Korean tunnelling technology passed to Hezbollah or Hamas, and more " * 2
    fig = small_multiples(days, [Panel(long, (1, 0, 2, 0, 1)), Panel("Hamas", (0, 1, 0, 0, 3))])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    name, total = ax._left_title, ax._right_title
    assert name.get_text().endswith("…") and long.startswith(name.get_text()[:-1])
    assert name.get_window_extent(renderer).x1 < total.get_window_extent(renderer).x0
    assert fig.axes[1].get_title(loc="left") == "Hamas"
    # the PNG names every panel in full
    assert _description(png_bytes(fig)) == f"Panels: {long}; Hamas"


def test_the_mailed_chart_names_the_panels_with_display_names(tmp_path, server):  # noqa: F811
    from newswatch.digest.deliver import send_digest

    store = make_db(tmp_path / "nw.duckdb")
    srv = server()
    labels = {"north_korea": "North Korea (DPRK)", "hezbollah": "Hezbollah", "iran": "Iran"}
    result = send_digest(store, digest(recipients=("a@example.org",)), srv.smtp(), labels=labels)
    assert result.status == "sent"
    (msg,) = srv.handler.to("a@example.org")
    (png,) = [p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"]
    assert _description(png) == "Panels: North Korea (DPRK); Hezbollah; Hamas; Iran"

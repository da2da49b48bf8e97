"""The Prefect flow, run by Prefect (test harness), against the local news site."""

from __future__ import annotations

import duckdb
import pytest

from newsfixtures import build_site, site_sources, write_config
from newswatch.orchestration.flows import poll_flow

# Prefect's client leaves a keep-alive connection to the test harness's API server open when
# a flow run fails (it is closed at interpreter exit); the socket is Prefect's, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def test_poll_flow_runs_a_pass_and_publishes_its_summary(prefect_harness, tmp_path):
    from prefect.artifacts import Artifact

    with build_site() as site:
        cdir = write_config(tmp_path / "c", site_sources(site), db=tmp_path / "flow.duckdb")
        result = poll_flow(str(cdir))
    assert result["articles_new"] == 6
    assert result["feeds_failed"] == 2
    assert {f["name"] for f in result["failing_feeds"]} == {"Down Feed", "Broken Feed"}
    con = duckdb.connect(str(tmp_path / "flow.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 6
    finally:
        con.close()
    artifact = Artifact.get("newswatch-poll-summary")
    assert artifact is not None
    assert "Down Feed" in artifact.data and "| 5 |" in artifact.data


def test_poll_flow_fails_fast_on_bad_configuration(prefect_harness, tmp_path):
    cdir = write_config(
        tmp_path / "c", [{"name": "A", "url": "https://a.example/f"}], db=tmp_path / "x.duckdb"
    )
    (cdir / "sources.yaml").write_text("sources:\n  - name: A\n")
    state = poll_flow(str(cdir), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception) as e:
        state.result()
    assert "sources.yaml" in str(e.value) and "url" in str(e.value)
    assert not (tmp_path / "x.duckdb").exists()

from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.config.docs import configuration_markdown, write_configuration_doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_committed_configuration_doc_is_current():
    assert DOC.exists(), "docs/configuration.md is missing: run `python scripts/gen_docs.py`"
    assert DOC.read_text() == configuration_markdown(), (
        "docs/configuration.md is stale: run `python scripts/gen_docs.py` and commit the result"
    )


def test_every_section_and_field_is_documented_with_its_description():
    text = configuration_markdown()
    for name in AgentConfig.model_fields:
        assert f"| `{name}` |" in text
    assert "## `supervisor`" in text and "## `cameras[].health.tamper`" in text
    assert "## `access.adapters[] (type: http_push)`" in text
    # a field description and a default come straight from the model
    assert (
        "| `stall_timeout` | number | `30.0` | local | A stage with no heartbeat for this long is restarted. |" in text
    )
    assert "| `site` | string | **required** |" in text


def test_writer_creates_the_file(tmp_path):
    path = write_configuration_doc(tmp_path / "docs" / "configuration.md")
    assert path.read_text().startswith("# Configuration reference")

import pytest

from pipeline.stack import templates
from pipeline.stack.errors import StackError
from pipeline.stack.layout import Layout


def test_renders_placeholders(tmp_path):
    source = tmp_path / "t.properties"
    source.write_text("port=${port}\ncost=$$5\n")
    assert templates.render(source, {"port": 9092}) == "port=9092\ncost=$5\n"


def test_missing_value_names_the_placeholder_and_template(tmp_path):
    source = tmp_path / "t.properties"
    source.write_text("dir=${log_dirs}\n")
    with pytest.raises(StackError, match=r"t.properties uses \$\{log_dirs\} but no value was given"):
        templates.render(source, {})


@pytest.mark.parametrize("name", ["kafka/server.properties", "druid/_common/common.runtime.properties",
                                  "druid/indexer/runtime.properties", "druid/zookeeper/zoo.cfg"])
def test_shipped_templates_are_well_formed(name, tmp_path):
    """Every placeholder in the real files is a valid name (a typo would fail at `up`, not here)."""
    import string

    text = (Layout(tmp_path, tmp_path).infra / name).read_text()
    template = string.Template(text)
    assert template.is_valid(), name
    assert template.get_identifiers()

from pathlib import Path

import pytest

from runtime.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_configuration_validates():
    config = load_config(REPO / "conf" / "local.yaml")
    assert config.sample_web.port == 18080
    assert "youtube.com" in config.blocked_hosts()
    assert "video.localhost" in config.blocked_hosts()


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("render:\n  concurency: 8\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "render.concurency: unknown key" in str(error.value)


def test_unknown_section_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rendr:\n  concurrency: 8\n")
    with pytest.raises(ConfigError, match="rendr: unknown key"):
        load_config(path)


def test_bad_value_names_key_and_reason():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["render.concurrency=0"])
    assert "render.concurrency" in str(error.value)
    assert "greater than or equal to 1" in str(error.value)


def test_overrides_are_typed():
    config = load_config(None, ["render.page_timeout_s=2.5", "urls.blocklist=[a.com, b.org]", "tracking.enabled=false"])
    assert config.render.page_timeout_s == 2.5
    assert config.urls.blocklist == ["a.com", "b.org"]
    assert config.tracking.enabled is False


def test_override_without_value_is_refused():
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(None, ["render.concurrency"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("render: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_blocklist_file_is_read_and_missing_file_is_an_error(tmp_path):
    listing = tmp_path / "block.txt"
    listing.write_text("# comment\nexample.org  # trailing comment\n\nvideos.test\n")
    config = load_config(None, [f"urls.blocklist_file={listing}", "urls.blocklist=[extra.net]"])
    assert config.blocked_hosts() == ["extra.net", "example.org", "videos.test"]
    config = load_config(None, [f"urls.blocklist_file={tmp_path / 'none.txt'}"])
    with pytest.raises(ConfigError, match="urls.blocklist_file"):
        config.blocked_hosts()


@pytest.mark.parametrize("name", ["local.yaml", "cluster.yaml", "databricks.yaml"])
def test_every_shipped_configuration_validates(name):
    config = load_config(REPO / "conf" / name)
    assert config.spark.master


def test_cluster_and_databricks_configurations_keep_tables_on_shared_storage():
    cluster = load_config(REPO / "conf" / "cluster.yaml")
    assert not cluster.spark.master.startswith("local") and not cluster.sample_web.enabled
    assert cluster.tables.root.startswith("hdfs://") and cluster.staging_root().startswith("hdfs://")
    assert cluster.network.allow_private == []
    databricks = load_config(REPO / "conf" / "databricks.yaml")
    assert databricks.tables.catalog == "main.webmine" and databricks.staging_root().startswith("/Volumes/")
    assert databricks.tracking.uri == "databricks" and databricks.tracking.artifact_root is None


def test_table_locations_under_a_folder_a_uri_or_a_catalog(tmp_path):
    from runtime.tables import Tables, join_location

    assert join_location("hdfs:///webmine/tables/", "urls") == "hdfs:///webmine/tables/urls"
    assert join_location("s3a://bucket/webmine", "urls") == "s3a://bucket/webmine/urls"
    assert join_location(tmp_path / "t", "urls") == str(tmp_path / "t" / "urls")
    catalog = Tables(None, load_config(REPO / "conf" / "databricks.yaml").tables, "/tmp/staging")
    assert catalog.location("final_qas") == "main.webmine.final_qas" and catalog.where() == "main.webmine"
    with pytest.raises(KeyError, match="unknown table 'answerz'"):
        catalog.location("answerz")


def test_render_and_image_choices_are_checked():
    with pytest.raises(ConfigError, match="render.block_resource_types.0"):
        load_config(None, ["render.block_resource_types=[videos]"])
    with pytest.raises(ConfigError, match="images.animated"):
        load_config(None, ["images.animated=keep"])
    with pytest.raises(ConfigError, match="render.per_host_delay_s"):
        load_config(None, ["render.per_host_delay_s=-1"])
    config = load_config(REPO / "conf" / "local.yaml")
    assert config.render.obey_robots and config.network.allow_public and config.images.output_format == "png"

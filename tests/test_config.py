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


def test_render_and_image_choices_are_checked():
    with pytest.raises(ConfigError, match="render.block_resource_types.0"):
        load_config(None, ["render.block_resource_types=[videos]"])
    with pytest.raises(ConfigError, match="images.animated"):
        load_config(None, ["images.animated=keep"])
    with pytest.raises(ConfigError, match="render.per_host_delay_s"):
        load_config(None, ["render.per_host_delay_s=-1"])
    config = load_config(REPO / "conf" / "local.yaml")
    assert config.render.obey_robots and config.network.allow_public and config.images.output_format == "png"

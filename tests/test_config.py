import pytest

from vlab import config
from vlab.errors import ConfigError, InputError


def test_defaults_are_read_from_the_package():
    assert config.get("cluster.threads_per_worker") == 1
    assert config.get("campaign.chunk_size") > 0


def test_env_variables_override_with_yaml_scalars(monkeypatch):
    monkeypatch.setenv("VLAB_CLUSTER__N_WORKERS", "5")
    monkeypatch.setenv("VLAB_DATA__OFFLINE", "true")
    assert config.get("cluster.n_workers") == 5
    assert config.get("data.offline") is True


def test_user_file_overrides_defaults_and_env_wins(tmp_path, monkeypatch):
    user = tmp_path / "vlab.yaml"
    user.write_text("campaign:\n  chunk_size: 17\n  retries: 0\n")
    monkeypatch.setenv("VLAB_CONFIG", str(user))
    assert config.get("campaign.chunk_size") == 17
    monkeypatch.setenv("VLAB_CAMPAIGN__CHUNK_SIZE", "9")
    assert config.get("campaign.chunk_size") == 9
    assert config.get("campaign.retries") == 0


def test_unknown_keys_are_errors_that_name_the_key_and_source(tmp_path, monkeypatch):
    user = tmp_path / "vlab.yaml"
    user.write_text("campaign:\n  chunksize: 17\n")
    monkeypatch.setenv("VLAB_CONFIG", str(user))
    with pytest.raises(ConfigError, match=r"'campaign.chunksize' in .*vlab.yaml.*allowed"):
        config.get("campaign.chunk_size")


def test_unknown_env_key_is_an_error(monkeypatch):
    monkeypatch.setenv("VLAB_CLUSTER__WORKERZ", "3")
    with pytest.raises(ConfigError, match="cluster.workerz.*VLAB_"):
        config.as_dict()


def test_invalid_yaml_user_file(tmp_path, monkeypatch):
    user = tmp_path / "vlab.yaml"
    user.write_text("campaign: [unclosed\n")
    monkeypatch.setenv("VLAB_CONFIG", str(user))
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.as_dict()


def test_override_is_temporary():
    before = config.get("campaign.retries")
    with config.override({"campaign.retries": 11}):
        assert config.get("campaign.retries") == 11
    assert config.get("campaign.retries") == before
    with pytest.raises(ConfigError, match="Unknown configuration key"), config.override({"x.y": 1}):
        pass


def test_bad_user_configuration_values_are_one_line_errors(tmp_path, monkeypatch):
    from vlab import config
    from vlab.errors import ConfigError

    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    cases = {
        "campaign: {chunk_size: [1, 2]}\n": "'campaign.chunk_size' in .* must be an integer",
        "campaign: {chunk_size: true}\n": "must be an integer",
        "data: {offline: 'yes'}\n": "'data.offline' .* must be true or false",
        "\n".join(bomb) + "\n": "not accepted as YAML",
        "cluster: {n_workers: 2}\ncluster: {n_workers: 3}\n": (
            r"the key 'cluster' is given twice in one mapping \(lines 1 and 2\)"
        ),
    }
    for text, message in cases.items():
        path = tmp_path / "vlab.yaml"
        path.write_text(text)
        monkeypatch.setenv("VLAB_CONFIG", str(path))
        with pytest.raises(ConfigError, match=message) as info:
            config.as_dict()
        assert "\n" not in str(info.value)
    monkeypatch.delenv("VLAB_CONFIG")
    monkeypatch.setenv("VLAB_CLUSTER__N_WORKERS", "[1, 2]")
    with pytest.raises(ConfigError, match="'cluster.n_workers'"):
        config.as_dict()


def test_a_test_that_undoes_its_patches_still_cannot_reach_the_users_catalog(monkeypatch):
    from pathlib import Path

    from vlab.catalog import index_dir
    from vlab.polymers import models_dir

    monkeypatch.undo()  # also undoes the per-test private folders of conftest
    home = Path("~/.local/share").expanduser()
    for folder in (index_dir(), models_dir()):
        assert not Path(str(folder)).is_relative_to(home), folder


def test_a_misspelt_environment_variable_is_named_with_the_key_it_probably_means(monkeypatch):
    monkeypatch.setenv("VLAB_CLUSTER__N_WORKER", "4")
    with pytest.raises(ConfigError) as caught:
        config.get("cluster.n_workers")
    assert str(caught.value).startswith(
        "Unknown configuration key 'cluster.n_worker' in the VLAB_* environment variables; "
        "allowed: cluster.dashboard_address, "
    )
    assert str(caught.value).endswith(". Did you mean 'cluster.n_workers'?")


def test_a_yaml_text_is_parsed_once_and_every_caller_gets_its_own_copy(tmp_path, monkeypatch):
    """The configuration is read on every get(): a text parsed before is not parsed again,
    a caller that edits its result does not change the next one's, a changed file is read
    anew, and a broken text fails on every call."""
    from vlab import _yaml

    text = "cluster:\n  n_workers: 3\nlist: [1, 2]\n"
    first = _yaml.load_yaml_text(text, source="a.yaml")
    first["cluster"]["n_workers"] = 99
    first["list"].append(3)
    assert _yaml.load_yaml_text(text, source="b.yaml") == {"cluster": {"n_workers": 3},
                                                            "list": [1, 2]}  # fmt: skip
    assert (text, _yaml.MAX_NODES) in _yaml._PARSED
    user = tmp_path / "vlab.yaml"
    user.write_text("cluster:\n  n_workers: 5\n")
    monkeypatch.setenv("VLAB_CONFIG", str(user))
    monkeypatch.delenv("VLAB_CLUSTER__N_WORKERS", raising=False)
    assert config.get("cluster.n_workers") == 5
    user.write_text("cluster:\n  n_workers: 6\n")
    assert config.get("cluster.n_workers") == 6
    for _ in range(2):
        with pytest.raises(InputError, match=r"c.yaml: not valid YAML"):
            _yaml.load_yaml_text("a: [1, 2", source="c.yaml")


def test_a_top_level_setting_has_its_own_variable_and_others_are_ignored(monkeypatch):
    monkeypatch.setenv("VLAB_RESULTS_DIR", "/data/runs")
    monkeypatch.setenv("VLAB_SOMETHING_ELSE", "x")  # not a setting: left alone
    monkeypatch.setenv("VLAB_CLUSTER", "4")  # a section, not a value: left alone
    assert config.get("results_dir") == "/data/runs"
    assert "something_else" not in config.as_dict()
    assert isinstance(config.get("cluster"), dict)


@pytest.mark.parametrize(
    ("var", "value", "rule"),
    [
        ("VLAB_CLUSTER__N_WORKERS", "0", ">= 1; got 0"),  # a cluster of no worker would hang
        ("VLAB_CAMPAIGN__CHUNK_SIZE", "-5", "from 1 to 1000000; got -5"),
        ("VLAB_CAMPAIGN__ZARR_CHUNK_ITEMS", "0", ">= 1; got 0"),
        ("VLAB_CAMPAIGN__FLUSH_SECONDS", "-1", "from 0 to 3600 seconds; got -1"),
        ("VLAB_CAMPAIGN__FLUSH_SECONDS", "3601", "from 0 to 3600 seconds; got 3601"),
        ("VLAB_STORAGE__LEASE_TTL", "0", "> 0; got 0"),
        # the same bounds as a spec's keys (a run would refuse them only later)
        ("VLAB_CAMPAIGN__RETRIES", "1000", "from 0 to 100; got 1000"),
        ("VLAB_CAMPAIGN__CHUNK_SIZE", "2000000", "from 1 to 1000000; got 2000000"),
    ],
)
def test_counts_and_times_out_of_range_are_refused_with_their_key(monkeypatch, var, value, rule):
    monkeypatch.setenv(var, value)
    key = var.removeprefix("VLAB_").lower().replace("__", ".")
    with pytest.raises(ConfigError) as caught:
        config.get("cluster.n_workers")
    assert str(caught.value) == (
        f"The configuration key {key!r} in the VLAB_* environment variables must be {rule}."
    )


def test_configured_bounds_are_the_specs():
    from vlab.campaign.spec import MAX_CHUNK_SIZE, MAX_RETRIES

    assert config._RANGES["campaign.retries"][1] == MAX_RETRIES
    assert config._RANGES["campaign.chunk_size"][1] == MAX_CHUNK_SIZE


def test_a_misspelt_variable_is_named_with_the_one_meant(monkeypatch):
    monkeypatch.setenv("VLAB_CLUSTER_N_WORKERS", "1")
    monkeypatch.setenv("VLAB_EXTRAS", "md")  # not close to a setting (a Docker build arg)
    with pytest.warns(UserWarning) as caught:
        config.as_dict()
    assert [str(w.message) for w in caught] == [
        "The environment variable VLAB_CLUSTER_N_WORKERS is not a vlab setting and is "
        "ignored. Did you mean 'VLAB_CLUSTER__N_WORKERS'?"
    ]


def test_an_override_out_of_range_is_refused_before_it_applies():
    with pytest.raises(ConfigError) as caught, config.override({"cluster.n_workers": 0}):
        pass
    assert str(caught.value) == (
        "The configuration key 'cluster.n_workers' in config.override must be >= 1; got 0."
    )
    assert config.get("cluster.n_workers") != 0

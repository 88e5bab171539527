"""The one builder of RunConfig (flags and form inputs alike) and the environment settings."""

from __future__ import annotations

import math

import pytest

from llm_loadtest.cli import main
from llm_loadtest.cli.run import flag_label
from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.errors import ConfigError, ExitCode
from llm_loadtest.settings.build import build_config
from llm_loadtest.settings.env import env_settings
from llm_loadtest.settings.presets import list_presets, load_preset, read_presets
from llm_loadtest.tui.screens.new_benchmark import field_label

TARGET = {"server": "http://127.0.0.1:8000", "model": "m"}


def test_text_is_parsed_and_typed_values_pass_through():
    config = build_config(
        {
            **TARGET,
            "concurrency": "1, 10,50",
            "input_len": " 64 ",
            "timeout": "2.5",
            "stream": False,
            "goodput": "ttft:500,e2e:4000",
            "extra_body": '{"temperature": 0}',
            "warmup": None,  # not given: the default stands
        }
    )
    assert config.concurrency == [1, 10, 50] and config.input_len == 64 and config.timeout == 2.5 and config.stream is False
    assert config.goodput == GoodputSLO(ttft_ms=500, e2e_ms=4000) and config.extra_body == {"temperature": 0}
    assert config.warmup == 3


def test_the_preset_stands_unless_a_value_is_given_and_empty_text_clears_an_optional_field(tmp_path):
    stress = load_preset("stress")
    config = build_config({**TARGET, "output_len": "7"}, stress)
    assert config.preset == "stress" and config.output_len == 7
    assert config.input_len == stress.values["input_len"]
    path = tmp_path / "slo.toml"
    path.write_text('name = "slo"\ninput_len = 32\n[goodput]\nttft_ms = 300\n')
    with_slo = load_preset(str(path))
    assert build_config(TARGET, with_slo).goodput == GoodputSLO(ttft_ms=300)
    assert build_config({**TARGET, "goodput": ""}, with_slo).goodput is None


def test_one_broken_user_preset_hides_neither_the_others_nor_why_it_is_broken(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "llm-loadtest" / "presets"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text("x = [\n")
    (folder / "fine.toml").write_text('name = "fine"\ninput_len = 32\n')
    assert load_preset("quick").builtin and load_preset("fine").values == {"input_len": 32}
    assert {"quick", "standard", "stress", "fine"} == {p.name for p in list_presets()}
    (broken,) = read_presets()[1]
    assert broken.startswith(f"cannot read preset {folder / 'mine.toml'}: ")
    with pytest.raises(ConfigError, match=r"cannot read preset .*mine\.toml"):
        load_preset("mine")  # asked for by name: its own error, not "unknown preset"
    with pytest.raises(ConfigError, match="unknown preset 'other'; choose one of: quick, standard, stress, fine"):
        load_preset("other")
    # a file that is not there is said to be missing, whatever else lies in the folder
    missing = tmp_path / "nowhere" / "p.toml"
    code = main(["run", "--headless", "-s", "http://127.0.0.1:9", "-m", "x", "--no-save", "--preset", str(missing)])
    assert code == ExitCode.CONFIG
    assert capsys.readouterr().err == f"llm-loadtest: error: preset file {missing} does not exist (or is not a file)\n"


def test_a_max_concurrency_that_nothing_would_cap_is_refused_not_ignored(capsys):
    with pytest.raises(ConfigError) as raised:
        build_config({**TARGET, "concurrency": "1,4", "max_concurrency": "3"})
    assert raised.value.field == "max_concurrency" and "--request-rate" in raised.value.reason
    assert build_config({**TARGET, "request_rate": "2,inf", "max_concurrency": "3"}).levels()[1].concurrency == 3
    code = main(["run", "--headless", "-s", "http://127.0.0.1:9", "-m", "x", "--no-save", "--max-concurrency", "3"])
    assert code == ExitCode.CONFIG
    assert capsys.readouterr().err.startswith("llm-loadtest: error: --max-concurrency: caps the requests in flight")


def test_a_duration_replaces_the_presets_count_and_both_together_are_refused():
    quick = load_preset("quick")
    config = build_config({**TARGET, "duration": "30"}, quick)
    assert config.duration == 30 and config.num_prompts is None
    assert build_config({**TARGET, "num_prompts": "5"}, quick).duration is None
    with pytest.raises(ConfigError) as raised:
        build_config({**TARGET, "duration": "30", "num_prompts": "5"})
    assert raised.value.field == "duration"


def test_what_a_workload_file_sets_gives_way_to_the_default_not_to_the_preset():
    stress = load_preset("stress")  # 5 concurrency levels, 500 prompts of 512 tokens
    defaults = build_config(TARGET)
    traced = build_config({**TARGET, "trace": "t.jsonl", "max_concurrency": "4"}, stress)
    assert traced.concurrency == defaults.concurrency and traced.input_len == defaults.input_len
    assert traced.workload.input_len == defaults.workload.input_len and traced.num_prompts == defaults.num_prompts
    assert traced.output_len == stress.values["output_len"] and traced.workers == 2 and traced.max_concurrency == 4  # the rest stands
    cut = build_config({**TARGET, "trace": "t.jsonl", "duration": "20"}, stress)
    assert cut.duration == 20 and cut.num_prompts is None  # a duration still cuts the trace
    from_dataset = build_config({**TARGET, "dataset": "d.jsonl"}, stress)
    assert from_dataset.input_len == defaults.input_len and from_dataset.workload.input_len == defaults.workload.input_len
    assert from_dataset.concurrency == stress.values["concurrency"] and from_dataset.num_prompts == 500


def test_rates_take_inf_but_no_other_float_does():
    assert build_config({**TARGET, "request_rate": "2,inf", "max_concurrency": "16"}).request_rate == [2, math.inf]
    for field in ("timeout", "duration", "burstiness"):
        with pytest.raises(ConfigError) as raised:
            build_config({**TARGET, field: "inf"})
        assert raised.value.field == field


@pytest.mark.parametrize(
    "raw, field, reason",
    [
        ({"input_len": "abc"}, "input_len", "takes a number of tokens, normal:MEAN:STD or uniform:LOW:HIGH (got 'abc')"),
        ({"output_len": "0"}, "output_len", "must be a positive integer (got '0')"),
        ({"turns": "x"}, "turns", "must be a whole number (got 'x')"),
        ({"num_prompts": ""}, "num_prompts", "must be a whole number (got '')"),
        ({"concurrency": "1,x"}, "concurrency", "must be comma-separated positive integers, e.g. 1,10,50 (got '1,x')"),
        ({"request_rate": "0"}, "request_rate", "must be comma-separated positive numbers or inf, e.g. 2,5.5,inf (got '0')"),
        ({"goodput": "ttft:abc"}, "goodput", "threshold for ttft must be a number of milliseconds (got 'abc')"),
        ({"workers": "65"}, "workers", "must be 1 to 64 client processes"),
        ({"warmup": "-1"}, "warmup", "must be 0 or more"),
        ({"server": "localhost:8000"}, "server", "server URL must start with http:// or https:// (got 'localhost:8000')"),
        ({"server": " "}, "server", "give the server's base URL, e.g. http://localhost:8000"),
        ({"endpoint": "grpc"}, "endpoint", "Input should be 'chat' or 'completions'"),
    ],
)
def test_errors_name_the_field_and_each_front_end_labels_it(raw, field, reason):
    with pytest.raises(ConfigError) as raised:
        build_config({**TARGET, **raw})
    error = raised.value
    assert (error.field, error.reason, error.exit_code) == (field, reason, ExitCode.CONFIG)
    assert error.labelled(flag_label) == f"--{field.replace('_', '-')}: {reason}"
    assert error.labelled(field_label).startswith(field_label(field) + ": ") and "--" not in field_label(field)


def test_server_model_and_key_come_from_the_environment(monkeypatch):
    for name in ("LLM_LOADTEST_SERVER", "LLM_LOADTEST_MODEL", "LLM_LOADTEST_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as raised:
        build_config({})
    assert raised.value.field == "server"
    monkeypatch.setenv("LLM_LOADTEST_SERVER", "http://127.0.0.1:9000")
    monkeypatch.setenv("LLM_LOADTEST_MODEL", "env-model")
    config = build_config({"model": None})
    assert (config.server, config.model) == ("http://127.0.0.1:9000", "env-model")
    assert build_config({"server": "http://127.0.0.1:1"}).server == "http://127.0.0.1:1"  # a value given wins
    assert env_settings().api_key is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert env_settings().api_key == "sk-openai"
    monkeypatch.setenv("LLM_LOADTEST_API_KEY", "sk-ours")
    assert env_settings().api_key == "sk-ours" and "sk-ours" not in repr(env_settings())
    monkeypatch.setenv("LLM_LOADTEST_MODEL", "  ")  # blank is unset
    assert env_settings().model is None

"""Config: TOML → models; errors name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartollama.config import load_config, parse_config
from smartollama.errors import ConfigError
from smartollama.hosts import parse_host

DESIGN_EXAMPLE = """
default_mode = "balanced"
[routing]
model_mode_conflict = "prefer_model"
allow_model_substitution = true
substitution_quality_threshold = "medium"
unknown_telemetry = "allow"
[modes.quiet]
max_fan_pct = 40
max_temp_c = 80
[modes.balanced]
max_fan_pct = 70
[modes.performance]
[modes.efficiency]
max_power_w = 30
[[backends]]
id = "ollama-npu"
host = "http://127.0.0.1:11436"
hardware = "npu"
max_model_size_gb = 2
supported_models = ["qwen2.5:0.5b", "qwen2.5:1.5b", "tinyllama:1b"]
model_patterns = ["*:0.5b", "*:1.5b"]
telemetry = { source = "static", fan_pct = 0 }
[[backends]]
id = "ollama-igpu"
host = "http://127.0.0.1:11435"
hardware = "igpu"
max_model_size_gb = 8
telemetry = { source = "prometheus", url = "http://127.0.0.1:9100/metrics" }
[[backends]]
id = "ollama-nvidia"
host = "http://127.0.0.1:11434"
hardware = "nvidia"
max_model_size_gb = 24
offload = true
max_offload_gb = 48
supported_models = ["*"]
telemetry = { source = "nvml", index = 0 }
[model_equivalents]
high_quality    = ["llama3:70b", "mixtral:8x7b"]
medium_quality  = ["llama3:8b", "mistral:7b"]
low_quality     = ["qwen2.5:1.5b", "phi-2:2.7b"]
ultra_efficient = ["qwen2.5:0.5b", "tinyllama:1b"]
[model_routing."llama3:70b"]
force_backend = "ollama-nvidia"
ignore_efficiency_mode = true
[model_routing."qwen2.5:0.5b"]
prefer_backend = "ollama-npu"
[urgency.critical]
max_wait_s = 2
min_tokens_per_s = 10
[urgency.interactive]
max_wait_s = 15
warn_wait_s = 5
min_tokens_per_s = 10
[urgency.background]
max_wait_s = 120
[urgency.batch]
[[preload]]
hours = "09-17"
models = ["qwen2.5-coder:7b", "deepseek-coder:6.7b"]
[[preload]]
hours = "22-09"
models = ["tinyllama:1b"]
"""


def test_design_example_parses() -> None:
    cfg = parse_config(DESIGN_EXAMPLE, "design.toml")
    assert [b.id for b in cfg.backends] == ["ollama-npu", "ollama-igpu", "ollama-nvidia"]
    assert cfg.modes["quiet"].limits() == {"fan_pct": 40, "temp_c": 80}
    assert cfg.modes["performance"].limits() == {}
    assert cfg.backend("ollama-nvidia").offloads is True
    assert cfg.backend("ollama-npu").offloads is False  # default off for npu
    assert cfg.tier_name("medium") == "medium_quality"
    assert cfg.tiers()[0] == "high_quality"
    assert cfg.model_routing["llama3:70b"].force_backend == "ollama-nvidia"
    assert cfg.urgency["interactive"].warn_wait_s == 5


@pytest.mark.parametrize(("text", "expected"), [
    ("localhost", "http://localhost:11434"),
    ("example.com:8080", "http://example.com:8080"),
    (":1234", "http://127.0.0.1:1234"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com/ollama/", "https://example.com:443/ollama"),
    ("[::1]:11435", "http://[::1]:11435"),
])
def test_hosts_parse_as_ollama_does(text: str, expected: str) -> None:
    assert parse_host(text) == expected


@pytest.mark.parametrize(("snippet", "key", "expect"), [
    ('[[backends]]\nid = "a"\nhost = "x"\nhardware = "gpu"\n', "backends[0] (a).hardware",
     "Input should be"),
    ('[[backends]]\nid = "a"\nhost = "x"\ncolour = 1\n', "backends[0] (a).colour", "unknown key"),
    ('[modes.quiet]\nmax_fan_pct = "loud"\n', "modes.quiet.max_fan_pct", "valid number"),
    ('[modes.quiet]\nmax_fan_pct = 140\n', "modes.quiet.max_fan_pct", "less than or equal to 100"),
    ('default_mode = "loud"\n', "default_mode", "modes are quiet"),
    ('[routing]\nmodel_mode_conflict = "yolo"\n', "routing.model_mode_conflict", "prefer_model"),
    ('[[backends]]\nhost = "x"\n', "backends[0].id", "required key is missing"),
    ('[[backends]]\nid = "a"\nhost = "x:99999"\n', "backends[0] (a).host", "invalid port"),
    ('[model_routing."llama3:70b"]\nforce_backend = "nope"\n',
     'model_routing."llama3:70b".force_backend', "names no backend 'nope'"),
    ('[[preload]]\nhours = "9 to 5"\nmodels = []\n', "preload[0].hours", "HH-HH"),
    ('[[backends]]\nid = "a"\nhost = "x"\ntelemetry = { source = "prometheus" }\n',
     "backends[0] (a).telemetry", "needs url"),
])
def test_errors_name_file_and_key(tmp_path: Path, snippet: str, key: str, expect: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(snippet)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    line = str(e.value)
    assert line.startswith(f"{path}: {key}: "), line
    assert expect in line
    assert "\n" not in line


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[modes.quiet\nmax_fan_pct = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML: .*line 1"):
        load_config(path)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_no_config_means_one_backend_at_ollama_host(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.delenv("SOLLAMA_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("OLLAMA_HOST", "10.1.2.3:9999")
    cfg = load_config()
    assert [(b.id, b.host) for b in cfg.backends] == [("ollama", "http://10.1.2.3:9999")]
    assert cfg.default_mode == "balanced"
    assert set(cfg.modes) == {"quiet", "balanced", "performance", "efficiency"}


def test_file_without_backends_gets_the_ollama_host_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    cfg = parse_config('default_mode = "quiet"\n')
    assert cfg.default_mode == "quiet"
    assert cfg.backends[0].host == "http://127.0.0.1:5555"


def test_user_mode_replaces_builtin_and_adds_new() -> None:
    cfg = parse_config("[modes.quiet]\nmax_fan_pct = 30\n[modes.night]\nmax_power_w = 15\n")
    assert cfg.modes["quiet"].limits() == {"fan_pct": 30}
    assert cfg.modes["night"].limits() == {"power_w": 15}
    assert "balanced" in cfg.modes


def test_duplicate_backend_ids() -> None:
    with pytest.raises(ConfigError, match=r"backends\[1\]\.id: duplicate backend id 'a'"):
        parse_config('[[backends]]\nid="a"\nhost="x"\n[[backends]]\nid="a"\nhost="y"\n', "f")


# -- the plain config objects and the validated config kept in the state directory -----------


def test_schema_and_plain_classes_have_the_same_fields_and_defaults() -> None:
    import dataclasses

    from smartollama import config, config_schema

    for name in ("ModeLimits", "Routing", "TelemetryConfig", "Backend", "ModelRoute",
                 "UrgencyLimits", "PreloadRule", "History", "Cache", "Timeouts", "Config"):
        plain, model = getattr(config, name), getattr(config_schema, name)
        plain_fields = {f.name: f for f in dataclasses.fields(plain)}
        assert list(plain_fields) == list(model.model_fields), name
        for key, info in model.model_fields.items():
            if info.is_required():
                assert plain_fields[key].default is dataclasses.MISSING, f"{name}.{key}"
                continue
            f = plain_fields[key]
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            expected = info.get_default(call_default_factory=True)
            if name == "Config" and key in ("modes", "urgency"):
                expected = dict(getattr(config, f"BUILTIN_{key.upper()}"))   # merged in
            assert _json(default) == _json(expected), f"{name}.{key}"


def _json(value: object) -> object:
    """A plain config object, a pydantic model or a dict of them, as JSON values."""
    import dataclasses

    from pydantic import BaseModel

    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):      # every field, those not dumped (auth) too
        return {name: _json(getattr(value, name)) for name in type(value).model_fields}
    return value


def test_plain_objects_round_trip_through_their_json(tmp_path: Path) -> None:
    cfg = parse_config(DESIGN_EXAMPLE, "design.toml")
    again = type(cfg).from_dict(cfg.to_dict(), "design.toml")
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()


def test_an_unchanged_file_is_read_back_as_validated(tmp_path: Path) -> None:
    import os

    path = tmp_path / "config.toml"
    path.write_text(DESIGN_EXAMPLE)
    first = load_config(path)
    kept = Path(os.environ["SOLLAMA_STATE_DIR"]) / "config-cache.json"
    assert kept.exists()
    second = load_config(path)
    assert second == first and second.source == str(path)
    # a change is validated again, errors and all
    path.write_text(DESIGN_EXAMPLE.replace('hardware = "npu"', 'hardware = "gpu"'))
    with pytest.raises(ConfigError, match=r"backends\[0\] \(ollama-npu\)\.hardware"):
        load_config(path)
    path.write_text(DESIGN_EXAMPLE.replace("max_fan_pct = 40", "max_fan_pct = 45"))
    assert load_config(path).modes["quiet"].max_fan_pct == 45


def test_the_kept_config_depends_on_ollama_host(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('default_mode = "quiet"\n')
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    assert load_config(path).backends[0].host == "http://127.0.0.1:5555"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:6666")
    assert load_config(path).backends[0].host == "http://127.0.0.1:6666"


def test_credentials_are_not_kept(tmp_path: Path) -> None:
    import os

    path = tmp_path / "config.toml"
    path.write_text('[[backends]]\nid = "a"\nhost = "x"\n'
                    'headers = { Authorization = "Bearer s3cret" }\n')
    assert load_config(path).backends[0].headers == {"Authorization": "Bearer s3cret"}
    kept = Path(os.environ["SOLLAMA_STATE_DIR"]) / "config-cache.json"
    assert "s3cret" not in kept.read_text()
    assert load_config(path).backends[0].headers == {"Authorization": "Bearer s3cret"}


def test_a_damaged_kept_config_is_validated_again(tmp_path: Path) -> None:
    import json
    import os

    path = tmp_path / "config.toml"
    path.write_text(DESIGN_EXAMPLE)
    first = load_config(path)
    kept = Path(os.environ["SOLLAMA_STATE_DIR"]) / "config-cache.json"
    data = json.loads(kept.read_text())
    del data["config"]["routing"]
    kept.write_text(json.dumps(data))
    assert load_config(path) == first
    kept.write_text("{not json")
    assert load_config(path) == first


@pytest.mark.parametrize("name", ["/etc/sollama/config.toml", "c.toml", "./c.toml", "a//b.toml",
                                  "/a/./b.toml", "//srv/c.toml", "/", "dir/", "a/../b.toml"])
def test_the_file_is_named_as_pathlib_names_it(name: str) -> None:
    from smartollama.config_load import _shown

    assert _shown(name) == str(Path(name))


def test_the_schedule_keeps_a_model_to_the_end_of_its_window() -> None:
    from smartollama.config import PreloadRule
    from smartollama.schedule import scheduled_keep_alive_s

    rules = [PreloadRule(hours="09-17", models=["qwen2.5-coder:7b", "llama3"]),
             PreloadRule(hours="22-09", models=["tinyllama:1b"])]
    assert scheduled_keep_alive_s(rules, "qwen2.5-coder:7b", 14, 20 * 60) == 9600.0
    assert scheduled_keep_alive_s(rules, "llama3:latest", 16, 3599.0) == 1.0
    assert scheduled_keep_alive_s(rules, "tinyllama:1b", 23) == 10 * 3600.0   # past midnight
    assert scheduled_keep_alive_s(rules, "qwen2.5-coder:7b", 17) is None      # window over
    assert scheduled_keep_alive_s(rules, "mistral:7b", 10) is None            # not named


def test_the_keep_alive_a_models_use_asks() -> None:
    from smartollama.schedule import use_keep_alive_s

    now = 100_000.0
    every = lambda gap, n: [now - gap * i for i in range(n, 0, -1)]  # noqa: E731
    assert use_keep_alive_s(every(600, 3), now) == 780.0        # 10 min apart: 13 min
    assert use_keep_alive_s(every(600, 2), now) is None         # two gaps: too few to tell
    assert use_keep_alive_s(every(200, 5), now) is None         # Ollama's 5 minutes do
    assert use_keep_alive_s(every(2400, 5), now) is None        # 40 min apart: not held
    # three in four gaps count: one long pause does not end it
    assert use_keep_alive_s([now - 9000, now - 1800, now - 1200, now - 600], now) == 780.0


def test_the_keep_alive_a_run_sends() -> None:
    from smartollama.config import Config, PreloadRule, Routing
    from smartollama.schedule import keep_alive_s

    now = 100_000.0
    uses = [now - 1800, now - 1200, now - 600]
    config = Config(preload=[PreloadRule(hours="09-17", models=["llama3:8b"])])
    assert keep_alive_s(config, "llama3:8b", 16, 0.0, uses=uses, now=now) == 3600.0  # the window's
    assert keep_alive_s(config, "llama3:8b", 17, 0.0, uses=uses, now=now) == 780.0   # its use's
    assert keep_alive_s(config, "llama3:8b", 17, 0.0) is None
    # the server keeps it longer already (OLLAMA_KEEP_ALIVE=-1: Ollama shows year 2318)
    assert keep_alive_s(config, "llama3:8b", 17, 0.0, uses=uses, now=now,
                        expires_at="2318-01-01T00:00:00.000000001Z") is None
    assert keep_alive_s(config, "llama3:8b", 17, 0.0, uses=uses, now=now,
                        expires_at=now + 60) == 780.0
    off = Config(routing=Routing(keep_alive_from_use=False))
    assert keep_alive_s(off, "llama3:8b", 17, 0.0, uses=uses, now=now) is None
    # a second copy (loaded on another backend too): no window; its own use's still
    assert keep_alive_s(config, "llama3:8b", 16, 0.0, uses=uses, now=now, elsewhere=True) == 780.0
    assert keep_alive_s(config, "llama3:8b", 16, 0.0, elsewhere=True) is None


def test_a_second_copy_is_kept_for_its_own_backends_use() -> None:
    from smartollama.fleet import BackendState, FleetSnapshot, Learned, LoadedModel
    from smartollama.schedule import use_of

    def st(bid: str, uses: list[float], loaded: bool, reachable: bool = True) -> BackendState:
        rows = {"llama3:8b": LoadedModel("llama3:8b", 5, 5, expires_at="x")} if loaded else {}
        return BackendState(id=bid, reachable=reachable, loaded=rows,
                            learned=Learned(uses={"llama3:8b": uses}))

    snap = FleetSnapshot(time=0.0, backends={"a": st("a", [1.0, 3.0], loaded=True),
                                             "b": st("b", [2.0], loaded=False)})
    assert use_of(snap, "a", "llama3:8b") == ([1.0, 2.0, 3.0], "x", False)   # its use anywhere
    assert use_of(snap, "b", "llama3:8b") == ([2.0], None, True)             # b's own
    snap.backends["a"].reachable = False
    assert use_of(snap, "b", "llama3:8b") == ([1.0, 2.0, 3.0], None, False)
    assert use_of(None, "a", "llama3:8b") == ([], None, False)

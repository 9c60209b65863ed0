"""`sollama replay`: the command, traces, the discrete-event loop, baselines and metrics.

The command runs as the installed `sollama` in a subprocess; the loop's
properties are checked with hypothesis on small random traces; the shipped
day traces are compared the way the README reports them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_sollama
from smartollama.commands.replay import fleet_and_config
from smartollama.replay.baselines import BASELINES
from smartollama.replay.compare import compare, run_one
from smartollama.replay.hindsight import Alternative, Hindsight, Slow, hindsight
from smartollama.replay.loop import RunResult, Simulation
from smartollama.replay.metrics import TARGETS, meets, percentile
from smartollama.replay.policies import sollama
from smartollama.replay.trace import TraceRequest, read_trace

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "benchmarks" / "traces"
METRIC_KEYS = {"ttft_p95_interactive_s", "ttft_p50_interactive_s", "loads_per_hour",
               "vram_efficiency", "quality_met", "fallback_rate", "oom", "refused",
               "energy_wh", "mode_compliance", "requests"}


def write(path: Path, rows: list[dict[str, object] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


SMALL = [
    {"t": 10, "model": "qwen2.5-coder:7b", "task": "code", "answer_tokens": 120},
    {"t": 30, "model": "llama3.2:3b", "urgency": "critical", "answer_tokens": 40},
    {"t": 60, "model": "qwen2.5-coder:32b", "urgency": "batch", "answer_tokens": 100},
    {"t": 90, "model": "deepseek-coder:6.7b", "task": "code", "mode": "quiet"},
    {"t": 4000, "model": "mistral:7b", "urgency": "background", "policy": "substitute"},
]


# -- the command ---------------------------------------------------------------------------


def test_json_has_the_designed_shape(tmp_path: Path) -> None:
    trace = write(tmp_path / "t.jsonl", SMALL)
    r = run_sollama("replay", str(trace), "--fleet", "tower", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["trace"] == {"requests": 5, "hours": 2.0}
    assert out["fleet"] == "tower"
    names = [run["name"] for run in out["runs"]]
    assert names == ["sollama", "biggest", "round-robin", "loaded-first", "least-busy"]
    assert out["runs"][0]["policy"] == "prefer_model"
    for run in out["runs"]:
        assert set(run["metrics"]) >= METRIC_KEYS
        assert run["metrics"]["requests"] == 5


def test_table_marks_the_best_and_names_the_docs(tmp_path: Path) -> None:
    trace = write(tmp_path / "t.jsonl", SMALL)
    r = run_sollama("replay", str(trace), "--fleet", "tower", "--baseline", "biggest",
                    "--policy", "substitute")
    assert r.returncode == 0, r.stderr
    assert "sollama" in r.stdout and "biggest" in r.stdout and "round-robin" not in r.stdout
    assert "TTFT p95, interactive" in r.stdout and " * " in r.stdout
    assert "docs/replay.md" in r.stdout


@pytest.mark.parametrize(("line", "words"), [
    ('{"t": 1, "model": "llama3:8b", "colour": "red"}', "unknown key 'colour'"),
    ('{"t": -1, "model": "llama3:8b"}', "'t' must be"),
    ('{"model": "llama3:8b"}', "missing 't'"),
    ('{"t": 1, "model": "llama3:8b", "urgency": "soon"}', "urgency 'soon'"),
    ('{"t": 1, "model": "llama3:8b", "mode": "silent"}', "unknown mode 'silent'"),
    ("not json", "not a JSON object"),
])
def test_a_malformed_line_is_one_error_naming_the_line(tmp_path: Path, line: str,
                                                       words: str) -> None:
    trace = write(tmp_path / "bad.jsonl", [SMALL[0], SMALL[1], line])
    r = run_sollama("replay", str(trace))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{trace}:3:" in r.stderr and words in r.stderr


def test_a_missing_trace_and_a_bad_fleet_are_one_line_each(tmp_path: Path) -> None:
    r = run_sollama("replay", str(tmp_path / "none.jsonl"))
    assert r.returncode == 1 and "trace file not found" in r.stderr
    trace = write(tmp_path / "t.jsonl", SMALL[:1])
    r = run_sollama("replay", str(trace), "--fleet", "warehouse")
    assert r.returncode == 1 and "warehouse" in r.stderr and r.stderr.count("\n") == 1


def test_a_config_whose_backends_are_not_the_fleets_is_refused(tmp_path: Path) -> None:
    trace = write(tmp_path / "t.jsonl", SMALL[:1])
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[backends]]\nid = "elsewhere"\nhost = "http://127.0.0.1:9"\n')
    r = run_sollama("replay", str(trace), "--fleet", "tower", "--config", str(cfg))
    assert r.returncode == 1 and "'elsewhere' is not a host of fleet 'tower'" in r.stderr


def test_help_says_how_to_write_a_trace() -> None:
    r = run_sollama("replay", "--help")
    assert r.returncode == 0
    for words in ("JSONL", '"t": 3605.2', "answer_tokens", "biggest", "round-robin",
                  "loaded-first", "least-busy", "docs/replay.md"):
        assert words in r.stdout


def test_plot_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    trace = write(tmp_path / "t.jsonl", SMALL)
    png = tmp_path / "day.png"
    r = run_sollama("replay", str(trace), "--fleet", "tower", "--json", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.loads(r.stdout)


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "block" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    trace = write(tmp_path / "t.jsonl", SMALL)
    r = run_sollama("replay", str(trace), "--plot", str(tmp_path / "x.png"),
                    env={"PYTHONPATH": str(tmp_path / "block")})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "smartollama[plot]" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_from_history_writes_a_trace_and_replays_it(tmp_path: Path) -> None:
    from smartollama.state import StateStore

    store = StateStore(os.environ["SOLLAMA_STATE_DIR"])
    with store.update() as st:
        for i, (model, mode) in enumerate([("llama3:8b", "balanced"), ("mistral:7b", "quiet"),
                                           ("llama3:8b", "quiet")]):
            st.add_verdict({"id": f"x{i}", "time": f"2026-11-22T10:0{i}:00.000Z",
                            "action": "run", "model_requested": model, "mode": mode,
                            "urgency": "interactive", "task": "general",
                            "outcome": {"status": "ok", "eval_tokens": 50 + i}}, 100)
    out = tmp_path / "mine.jsonl"
    r = run_sollama("replay", str(out), "--from-history", "--fleet", "demo", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["model"] for row in rows] == ["llama3:8b", "mistral:7b", "llama3:8b"]
    assert rows[0]["t"] == 36000.0 and rows[1]["t"] == 36060.0
    assert [row.get("mode") for row in rows] == ["balanced", "quiet", None]
    assert json.loads(r.stdout)["trace"]["requests"] == 3


# -- the loop's properties ------------------------------------------------------------------

MODELS = {
    "tower": ["qwen2.5-coder:7b", "deepseek-coder:6.7b", "llama3.2:3b", "qwen2.5:32b",
              "mistral:7b", "tinyllama:1b", "auto"],
    "laptop": ["qwen2.5-coder:7b", "qwen2.5:14b", "llama3.2:3b", "qwen2.5:1.5b", "mistral:7b"],
}


@st.composite
def traces(draw: st.DrawFn) -> tuple[str, list[TraceRequest]]:
    fleet = draw(st.sampled_from(sorted(MODELS)))
    n = draw(st.integers(1, 25))
    gaps = draw(st.lists(st.floats(0, 400), min_size=n, max_size=n))
    t, out = 0.0, []
    for gap in gaps:
        t += gap
        out.append(TraceRequest(
            t=round(t, 1), model=draw(st.sampled_from(MODELS[fleet])),
            urgency=draw(st.sampled_from(["critical", "interactive", "background", "batch"])),
            answer_tokens=draw(st.integers(0, 600)), prompt_tokens=draw(st.integers(0, 3000)),
            mode=draw(st.sampled_from([None, None, "quiet", "balanced", "efficiency"])),
            policy=draw(st.sampled_from([None, "prefer_model", "substitute", "prefer_mode"]))))
    return fleet, out


class Checked(Simulation):
    """A run that checks, at every start, that no host holds more than it has."""

    def _start(self, h, job):  # type: ignore[no-untyped-def]
        started = super()._start(h, job)
        dev, ram = h.model.memory_used()
        assert dev <= h.model.device_bytes
        assert ram <= h.model.ram_bytes
        assert len(h.active) + len(h.waiting) <= h.spec.num_parallel
        return started


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), st.sampled_from(["sollama", *BASELINES]))
def test_every_request_ends_once_within_memory(case: tuple[str, list[TraceRequest]],
                                               policy: str) -> None:
    fleet, trace = case
    spec, config = fleet_and_config(fleet, None)
    chooser = sollama(config) if policy == "sollama" else BASELINES[policy]
    res = Checked(copy.deepcopy(spec), config, trace, chooser, name=policy,
                  learn=policy == "sollama").run()
    assert [j.index for j in res.jobs] == list(range(len(trace)))
    for j in res.jobs:
        assert j.status in ("ok", "oom", "failed", "refused")
        if j.status == "ok":
            assert j.arrival <= j.start <= j.first_token <= j.done  # type: ignore[operator]
        else:
            assert j.status == "refused" or j.oom > 0 or j.hosts_tried > 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_a_replay_is_deterministic(case: tuple[str, list[TraceRequest]]) -> None:
    fleet, trace = case
    spec, config = fleet_and_config(fleet, None)
    first = compare(trace, spec, config, parallel=False).report
    assert compare(trace, spec, config, parallel=False).report == first


def test_the_second_process_gives_the_same_numbers() -> None:
    spec, config = fleet_and_config("tower", str(TRACES / "tower-coding-day.toml"))
    trace = read_trace(TRACES / "tower-coding-day.jsonl", config.modes)[:150]
    one = compare(trace, spec, config, parallel=False).report
    assert compare(trace, spec, config, parallel=True).report == one


def test_quiet_mode_has_something_to_avoid() -> None:
    """A busy host heats up and its fan follows: a run of code requests on one
    card drives its fan past the quiet limit, and cooling brings it back."""
    spec, config = fleet_and_config("laptop", None)
    trace = [TraceRequest(t=float(i * 8), model="qwen2.5-coder:7b", answer_tokens=400)
             for i in range(40)]
    res = run_one("biggest", trace, spec, config)
    fans = [f for _, f in res.fan]
    assert fans[0] == pytest.approx(30.0)
    assert max(fans) > config.modes["quiet"].max_fan_pct  # type: ignore[operator]


def test_a_model_that_fits_nowhere_whole_is_out_of_memory_for_the_baselines_only() -> None:
    spec, config = fleet_and_config("tower", None)
    trace = [TraceRequest(t=float(i * 600), model="qwen2.5-coder:32b", urgency="batch",
                          answer_tokens=50) for i in range(4)]
    report = compare(trace, spec, config, baselines=["round-robin"], parallel=False).report
    by = {r["name"]: r["metrics"] for r in report["runs"]}
    assert by["sollama"]["oom"] == 0 and by["sollama"]["fallback_rate"] == 0
    assert by["round-robin"]["oom"] == 2 and by["round-robin"]["fallback_rate"] == 0.5


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert meets("loads_per_hour", 9.9) and meets("loads_per_hour", 10) is False
    assert meets("oom", 0) is None


# -- the shipped traces: what the README reports -------------------------------------------

SHIPPED = {
    "tower": ("tower-coding-day.jsonl", "tower-coding-day.toml"),
    "laptop": ("laptop-day.jsonl", None),
}
#: production targets sollama misses on each trace, as docs/replay.md reports them; the
#: test fails when one of them starts being met, so that the docs are brought up to date
KNOWN_MISSES: dict[str, set[str]] = {
    "tower": set(),
    "laptop": {"ttft_p95_interactive_s"},
}
#: traces where sollama's mode compliance is below a baseline's (docs/replay.md says why)
COMPLIANCE_BELOW: set[str] = set()
#: the least mode compliance sollama keeps on each trace: on the laptop, what deciding
#: with the heat learned under load buys (93.2 % when only the reading of the moment counted)
COMPLIANCE_AT_LEAST = {"tower": 0.96, "laptop": 0.995}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict[str, float]]]:
    fleet = request.param
    trace, cfg = SHIPPED[fleet]
    spec, config = fleet_and_config(fleet, str(TRACES / cfg) if cfg else None)
    report = compare(read_trace(TRACES / trace, config.modes), spec, config).report
    REPORTS[fleet] = report
    return fleet, {r["name"]: r["metrics"] for r in report["runs"]}


REPORTS: dict[str, dict[str, object]] = {}


def test_the_readme_shows_the_table_as_it_is(
        shipped: tuple[str, dict[str, dict[str, float]]]) -> None:
    from smartollama.replay.table import text

    fleet, _ = shipped
    readme = (ROOT / "README.md").read_text()
    block = readme.split(f"<!-- replay:{fleet} -->\n```\n", 1)[1].split("```\n", 1)[0]
    assert block == text(REPORTS[fleet]), "README.md's replay table is stale: paste the new one"


def test_sollama_beats_every_baseline_on_p95_interactive_and_oom(
        shipped: tuple[str, dict[str, dict[str, float]]]) -> None:
    _, runs = shipped
    ours = runs["sollama"]
    assert len(runs) == 5
    for name, theirs in runs.items():
        if name != "sollama":
            assert ours["ttft_p95_interactive_s"] < theirs["ttft_p95_interactive_s"], name
            assert ours["oom"] < theirs["oom"], name


def test_sollama_mode_compliance_against_the_baselines(
        shipped: tuple[str, dict[str, dict[str, float]]]) -> None:
    fleet, runs = shipped
    ours = runs["sollama"]["mode_compliance"]
    at_least = all(ours >= m["mode_compliance"] for m in runs.values())
    assert at_least is (fleet not in COMPLIANCE_BELOW)
    assert ours >= COMPLIANCE_AT_LEAST[fleet]


def test_sollama_production_targets(shipped: tuple[str, dict[str, dict[str, float]]]) -> None:
    fleet, runs = shipped
    missed = {m for m in TARGETS if not meets(m, runs["sollama"][m])}
    assert missed == KNOWN_MISSES[fleet]


# -- hindsight: each slow request tried on every host, as it came ---------------------------


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def looked_back(request: pytest.FixtureRequest) -> tuple[str, Hindsight, RunResult]:
    fleet = request.param
    trace, cfg = SHIPPED[fleet]
    spec, config = fleet_and_config(fleet, str(TRACES / cfg) if cfg else None)
    requests = read_trace(TRACES / trace, config.modes)
    return fleet, hindsight(requests, spec, config), run_one("sollama", requests, spec, config)


def test_hindsight_tries_each_slow_request_again_as_the_run_had_it(
        looked_back: tuple[str, Hindsight, RunResult]) -> None:
    _, look, run = looked_back
    found = look.checked
    slow = {j.arrival: j for j in run.jobs if j.status == "ok"
            and j.req.urgency in ("interactive", "critical") and (j.ttft_s or 0) > 5}
    assert found and [s.t for s in found] == sorted(slow) and look.slow == len(slow)
    for s in found:
        job = slow[s.t]
        assert (s.host, s.model, s.mode) == (job.host, job.model, job.mode)
        mine = [a for a in s.alternatives if a.chosen]
        # the copy sent where sollama sent it answers exactly when the run did
        assert len(mine) == 1 and mine[0].host == s.host and mine[0].ttft_s == pytest.approx(
            s.ttft_s, abs=1e-9)
        holders = {h for h, hs in run_hosts(looked_back[0]).items() if s.model in hs}
        assert {a.host for a in s.alternatives} == holders


def run_hosts(fleet: str) -> dict[str, set[str]]:
    from smartollama.sim.spec import load_fleet_spec

    return {h.name: {m.name for m in h.models} for h in load_fleet_spec(fleet).hosts}


def test_the_readme_shows_the_hindsight_as_it_is(
        looked_back: tuple[str, Hindsight, RunResult]) -> None:
    from smartollama.replay.hindsight import text as hindsight_text

    fleet, look, _ = looked_back
    readme = (ROOT / "README.md").read_text()
    block = readme.split(f"<!-- hindsight:{fleet} -->\n```\n", 1)[1].split("```\n", 1)[0]
    assert block == hindsight_text(look), "README.md's hindsight is stale: paste the new one"


def test_hindsight_checks_at_most_so_many_evenly_spread() -> None:
    from smartollama.replay import hindsight as hs

    spec, config = fleet_and_config("laptop", None)
    trace = read_trace(TRACES / "laptop-day.jsonl", config.modes)
    seen: list[tuple[int, int]] = []
    look = hindsight(trace, spec, config, max_checked=4,
                     progress=lambda done, total: seen.append((done, total)))
    assert look.slow > 20 and len(look.checked) == 4
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    hours = [s.t / 3600 for s in look.checked]
    assert hours == sorted(hours) and hours[-1] - hours[0] > 6     # not the first four
    out = hs.text(look)
    assert out.startswith(f"Hindsight: {look.slow} interactive requests took over 5 s")
    assert "\n4 of them, evenly spread, tried again on every host" in out
    assert hs.summary(look)["checked"] == 4 and hs.summary(look)["slow"] == look.slow


def test_a_slow_request_is_no_host_breaking_mode_or_within_mode() -> None:
    def slow(*alts: tuple[str, float | None, list[str]]) -> Slow:
        return Slow(t=1.0, model="m", mode="quiet", host="a", ttft_s=9.0, alternatives=[
            Alternative("a", 9.0, [], chosen=True),
            *(Alternative(h, t, over, chosen=False) for h, t, over in alts)])

    assert slow().outcome == "no_host"
    assert slow(("b", 6.0, []), ("c", None, [])).outcome == "no_host"
    assert slow(("b", 2.0, ["fan_pct"])).outcome == "breaking_mode"
    assert slow(("b", 2.0, ["fan_pct"]), ("c", 4.9, [])).outcome == "within_mode"
    # the chosen host itself never counts, even if its copy were quick
    quick_self = Slow(t=1.0, model="m", mode="quiet", host="a", ttft_s=9.0,
                      alternatives=[Alternative("a", 1.0, [], chosen=True)])
    assert quick_self.outcome == "no_host"


def test_replay_hindsight_on_the_command_line(tmp_path: Path) -> None:
    # a quiet morning on the laptop: two long coder prompts at once, the iGPU takes one
    rows = [{"t": 10.0, "model": "qwen2.5-coder:7b", "task": "code", "prompt_tokens": 2400,
             "answer_tokens": 300, "mode": "quiet"},
            {"t": 11.0, "model": "qwen2.5-coder:7b", "task": "code", "prompt_tokens": 2400,
             "answer_tokens": 300}]
    trace = write(tmp_path / "t.jsonl", rows)
    r = run_sollama("replay", str(trace), "--fleet", "laptop", "--baseline", "biggest",
                    "--hindsight", "--json")
    assert r.returncode == 0, r.stderr
    look = json.loads(r.stdout)["hindsight"]
    assert look["limit_s"] == 5.0 and look["slow"] == look["checked"] == len(look["requests"]) >= 1
    assert look["no_host"] + look["breaking_mode"] + look["within_mode"] == look["slow"]
    first = look["requests"][0]
    assert set(first) == {"t", "model", "mode", "host", "ttft_s", "alternatives", "outcome"}
    assert {a["host"] for a in first["alternatives"]} == {"laptop-igpu", "laptop-nvidia"}
    r = run_sollama("replay", str(trace), "--fleet", "laptop", "--baseline", "biggest",
                    "--hindsight")
    assert r.returncode == 0, r.stderr
    tail = r.stdout.split("\nHindsight: ", 1)[1]
    assert tail.startswith(f"{look['slow']} interactive request")
    assert "Tried again on every host that holds the model, at the moment each came:" in tail
    assert f"{look['no_host']} no host would have answered within 5 s" in tail
    # a quick one: nothing to look back on
    write(trace, [{"t": 10.0, "model": "llama3.2:3b", "prompt_tokens": 50, "answer_tokens": 20}])
    r = run_sollama("replay", str(trace), "--fleet", "laptop", "--baseline", "biggest",
                    "--hindsight")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("\nHindsight: no interactive request took over 5 s to its first "
                             "token.\n")


def test_a_cloud_model_is_answered_remotely_and_an_unknown_one_refused() -> None:
    spec, config = fleet_and_config("today", None)
    trace = [TraceRequest(t=1.0, model="gpt-oss:120b-cloud", answer_tokens=120),
             TraceRequest(t=2.0, model="nosuch:1b")]
    res = run_one("sollama", trace, spec, config)
    cloud, unknown = res.jobs
    assert cloud.status == "ok" and cloud.runner is None and not res.loads
    assert cloud.ttft_s is not None and cloud.ttft_s < 1
    assert unknown.status == "refused"


def test_deciding_without_prose_decides_the_same() -> None:
    """The replay asks `decide(explain=False)`: the same choices as the CLI's full verdict."""
    from smartollama.replay.compare import run_one, summarize

    spec, config = fleet_and_config("laptop", None)
    trace = read_trace(TRACES / "laptop-day.jsonl", config.modes)[:200]
    lean, full = (summarize(run_one("sollama", trace, spec, config, explain=explain), config)
                  for explain in (False, True))
    assert full.metrics == lean.metrics and full.ttft == lean.ttft and full.loads == lean.loads


def test_a_fleet_file_with_thermal_figures(tmp_path: Path) -> None:
    fleet = tmp_path / "box.toml"
    fleet.write_text('''name = "box"
[[hosts]]
name = "gpu"
hardware = "nvidia"
vram_gb = 12
load_gb_per_s = 3
models = ["llama3.2:3b", "qwen2.5-coder:7b"]
readings = { fan_pct = 25, temp_c = 40, power_w = 20 }
full_w = 200
full_temp_c = 85
thermal_tau_s = 30
fan_curve = [[40, 25], [60, 45], [85, 100]]
''')
    trace = write(tmp_path / "t.jsonl", [{"t": i * 5, "model": "qwen2.5-coder:7b",
                                          "answer_tokens": 400, "mode": "quiet" if i == 0 else None}
                                         for i in range(30)])
    trace.write_text(trace.read_text().replace(', "mode": null', ""))
    r = run_sollama("replay", str(trace), "--fleet", str(fleet), "--json", "--baseline", "biggest")
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert json.loads(r.stdout)["fleet"] == "box"
    # one card, busy: it gets loud, and quiet mode cannot be kept by anyone
    assert all(run["metrics"]["mode_compliance"] < 1 for run in runs)
    fleet.write_text(fleet.read_text().replace("[[40, 25], [60, 45], [85, 100]]",
                                               "[[60, 45], [40, 25]]"))   # falling: refused
    r = run_sollama("replay", str(trace), "--fleet", str(fleet))
    assert r.returncode == 1 and "fan_curve" in r.stderr and r.stderr.count("\n") == 1


def test_a_longer_keep_alive_means_fewer_loads(tmp_path: Path) -> None:
    spec, config = fleet_and_config("tower", None)
    trace = [TraceRequest(t=i * 600.0, model="qwen2.5-coder:7b", answer_tokens=50)
             for i in range(12)]
    # sollama asks a keep-alive from the model's use: every 10 minutes, 13 minutes
    used = run_one("sollama", trace, spec, config)
    assert len(used.loads) == 4      # the server's 5 minutes, until three gaps told it
    assert [j.asked_keep_alive for j in used.jobs][2:4] == [None, 780.0]
    import dataclasses

    config = dataclasses.replace(config, routing=dataclasses.replace(config.routing,
                                                                     keep_alive_from_use=False))
    short = run_one("sollama", trace, spec, config)
    for h in spec.hosts:
        h.keep_alive_s = 1800
    long = run_one("sollama", trace, spec, config)
    assert len(short.loads) == 12 and len(long.loads) <= 2

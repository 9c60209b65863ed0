"""`sollama status`: telemetry against the mode's limits, loaded models; energy per run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import SOLLAMA, run_sollama


def test_status_json_shows_readings_limits_and_loaded_models(demo_fleet: object) -> None:
    r = run_sollama("status", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["mode"] == "balanced" and data["mode_source"] == "default_mode"
    assert data["limits"] == {"fan_pct": 70.0}
    by_id = {b["id"]: b for b in data["backends"]}
    assert set(by_id) == {"ollama-npu", "ollama-igpu", "ollama-nvidia", "ollama-cpu"}
    nvidia = by_id["ollama-nvidia"]
    assert nvidia["reachable"] is True
    assert nvidia["reading"]["fan_pct"] == 65 and nvidia["reading"]["source"] == "prometheus"
    assert [m["name"] for m in nvidia["loaded"]] == ["llama3:70b"]
    assert nvidia["loaded"][0]["size_vram"] < nvidia["loaded"][0]["size"]   # partly offloaded
    assert nvidia["over_limits"] == []


def test_status_marks_readings_over_the_modes_limits(demo_fleet: object) -> None:
    run_sollama("mode", "quiet")
    data = json.loads(run_sollama("status", "--json").stdout)
    assert data["mode"] == "quiet"
    over = {b["id"]: b["over_limits"] for b in data["backends"]}
    assert over["ollama-nvidia"] == ["fan_pct"]
    assert over["ollama-igpu"] == []


def test_status_table_names_unreachable_hosts(demo_fleet: object) -> None:
    demo_fleet.hosts["ollama-cpu"].stop()  # type: ignore[attr-defined]
    r = run_sollama("status", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("ollama-cpu"))
    assert "✗ 127.0.0.1:" in row
    assert "✗ ollama-cpu: http://127.0.0.1:" in r.stdout           # the note says why
    assert "65%/70" in r.stdout


def test_a_missing_sensor_is_not_available_not_zero(demo_fleet: object) -> None:
    demo_fleet.hosts["ollama-nvidia"].set_readings(fan_pct=None)  # type: ignore[attr-defined]
    data = json.loads(run_sollama("status", "--json").stdout)
    nvidia = next(b for b in data["backends"] if b["id"] == "ollama-nvidia")
    assert nvidia["reading"]["fan_pct"] == {"na": "not exported"}


def test_cached_status_json_does_not_import_pynvml(demo_fleet: object, tmp_path: Path) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    url = demo_fleet.hosts["ollama-nvidia"].url  # type: ignore[attr-defined]
    cfg.write_text(f'[[backends]]\nid = "gpu"\nhost = "{url}"\nhardware = "nvidia"\n'
                   'telemetry = { source = "nvml", index = 0 }\n[cache]\ntelemetry_ttl_s = 60\n')
    code = ("import sys\nfrom smartollama.cli import main\n"
            "try:\n    main(['status', '--json'])\nexcept SystemExit:\n    pass\n"
            "print('PYNVML=' + str('pynvml' in sys.modules))")
    python = str(Path(SOLLAMA).parent / "python")
    first = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    second = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert "PYNVML=True" in first.stdout, first.stdout + first.stderr     # it probed NVML
    assert "PYNVML=False" in second.stdout, second.stdout                 # cached: no import
    reading = json.loads(second.stdout.split("PYNVML")[0])["backends"][0]["reading"]
    assert "NVML" in reading["fan_pct"]["na"] or "nvml" in reading["fan_pct"]["na"].lower()


def test_run_records_the_energy_the_backend_used(demo_fleet: object) -> None:
    r = run_sollama("run", "qwen2.5:0.5b", "--backend", "ollama-igpu", "--json", "hi")
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["outcome"]["energy_j"] > 0


def test_status_for_another_mode(demo_fleet: object) -> None:
    data = json.loads(run_sollama("status", "--mode", "quiet", "--json").stdout)
    assert (data["mode"], data["mode_source"]) == ("quiet", "--mode")
    assert {b["id"]: b["over_limits"] for b in data["backends"]}["ollama-nvidia"] == ["fan_pct"]
    bad = run_sollama("status", "--mode", "loud")
    assert bad.returncode == 2 and "unknown mode 'loud'" in bad.stderr   # usage, as --urgency


def test_status_fits_an_80_column_pipe(demo_fleet: object) -> None:
    r = run_sollama("status", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert max(len(line.rstrip()) for line in r.stdout.splitlines()) <= 80
    row = next(line for line in r.stdout.splitlines() if line.startswith("ollama-nvidia"))
    assert "65%/70" in row and "llama3:70b" in row

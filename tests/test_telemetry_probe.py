"""probe(): source selection, budgets, memo round trips, static/none, cpu, import cost."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from fakes import nvml as fake_nvml
from fakes import sysfs
from smartollama.config import TelemetryConfig
from smartollama.telemetry import FIELDS, NA, Reading, probe


def unblock(fifo) -> None:
    """Open the FIFO's other end so the abandoned worker's read ends (EOF) and it exits."""
    with contextlib.suppress(OSError):  # ENXIO: no reader waiting any more
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_static_values_and_unset_fields():
    r, memo = probe(TelemetryConfig(source="static", fan_pct=0, temp_c=45, mem_total_gb=16), now=5.0)
    assert memo == {}
    assert r.source == "static" and r.time == 5.0
    assert r.fan_pct == 0.0 and r.temp_c == 45.0 and r.mem_total_gb == 16.0
    assert r.power_w == NA("not configured")
    assert r.energy_j == NA("not configured")
    assert r.values() == {"fan_pct": 0.0, "temp_c": 45.0, "mem_total_gb": 16.0}


def test_none_reads_nothing():
    r, memo = probe(TelemetryConfig(source="none"), now=1.0)
    assert memo == {}
    assert r.error is None
    assert all(getattr(r, f) == NA("no telemetry configured") for f in FIELDS)


@pytest.mark.parametrize(
    ("hardware", "build", "source"),
    [
        ("amd", sysfs.amdgpu_dgpu, "amdgpu"),
        ("igpu", sysfs.xe_dgpu, "intel-gpu"),
        ("npu", sysfs.npu, "intel-npu"),
    ],
)
def test_auto_follows_declared_hardware(tmp_path, hardware, build, source):
    build(tmp_path)
    r, memo = probe(TelemetryConfig(source="auto", root=str(tmp_path)), hardware=hardware, now=1.0)
    assert r.source == source
    assert r.error is None
    assert r.detail["picked_by"] == f"auto ({hardware})"
    json.dumps(memo)


def test_auto_without_hardware_prefers_nvml(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml.make())
    sysfs.amdgpu_dgpu(tmp_path)
    r, _ = probe(TelemetryConfig(source="auto", root=str(tmp_path)), now=1.0)
    assert r.source == "nvml"


def test_auto_without_nvml_takes_an_amd_card_else_cpu(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml.make(init_error="LIBRARY_NOT_FOUND"))
    empty = tmp_path / "empty"
    empty.mkdir()
    r, _ = probe(TelemetryConfig(source="auto", root=str(empty), timeout_s=5), now=1.0)
    assert r.source == "cpu"
    sysfs.amdgpu_dgpu(tmp_path)
    r, _ = probe(TelemetryConfig(source="auto", root=str(tmp_path)), now=1.0)
    assert r.source == "amdgpu"


def test_hung_sysfs_read_times_out_within_the_budget(tmp_path):
    card = sysfs.amdgpu_dgpu(tmp_path)
    fifo = card / "device" / "hwmon" / "hwmon3" / "power1_average"
    fifo.unlink()
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: a hung sensor
    try:
        started = time.monotonic()
        r, memo = probe(TelemetryConfig(source="amdgpu", root=str(tmp_path), timeout_s=0.25),
                        memo={"source": "amdgpu", "state": {"x": 1}}, now=1.0)
        took = time.monotonic() - started
    finally:
        unblock(fifo)
    assert took < 0.75
    assert r.error == "timed out"
    assert all(getattr(r, f) == NA("timed out") for f in FIELDS)
    assert memo == {"source": "amdgpu", "state": {"x": 1}}  # kept for next time


def test_timed_out_reading_still_gets_configured_values(tmp_path):
    card = sysfs.npu(tmp_path)
    fifo = card / "device" / "npu_busy_time_us"
    fifo.unlink()
    os.mkfifo(fifo)
    try:
        r, _ = probe(TelemetryConfig(source="intel-npu", root=str(tmp_path), timeout_s=0.2, fan_pct=0), now=1.0)
    finally:
        unblock(fifo)
    assert r.fan_pct == 0.0
    assert r.temp_c == NA("timed out")


def test_memo_survives_json_round_trip(tmp_path):
    accel = sysfs.npu(tmp_path, busy_us=0)
    c = TelemetryConfig(source="intel-npu", root=str(tmp_path))
    _, memo = probe(c, now=10.0)
    memo = json.loads(json.dumps(memo))
    sysfs.write(accel / "device" / "npu_busy_time_us", 400_000)
    r, _ = probe(c, memo=memo, now=11.0)
    assert r.util_pct == pytest.approx(40.0)
    # a reading survives the same trip
    assert Reading.from_dict(json.loads(json.dumps(r.to_dict()))).util_pct == pytest.approx(40.0)


def test_cpu_reads_without_raising(tmp_path):
    r, memo = probe(TelemetryConfig(source="cpu", root=str(tmp_path), timeout_s=5), now=1.0)
    assert r.source == "cpu"
    for f in FIELDS:
        assert isinstance(getattr(r, f), float | NA)
    json.dumps(memo)
    json.dumps(r.to_dict())
    # no RAPL in an empty root
    assert r.power_w == NA("no RAPL power counter")


def test_cpu_power_from_rapl_tree(tmp_path):
    zone = sysfs.rapl(tmp_path, energy_uj=10_000_000)
    c = TelemetryConfig(source="cpu", root=str(tmp_path), timeout_s=5)
    first, memo = probe(c, now=100.0)
    assert first.power_w == NA("needs a second sample")
    assert first.power_limit_w == pytest.approx(65.0)
    assert first.energy_j == pytest.approx(10.0)
    sysfs.write(zone / "energy_uj", 10_000_000 + 35_000_000)
    second, memo = probe(c, memo=memo, now=101.0)
    assert second.power_w == pytest.approx(35.0)
    # the counter wrapped past max_energy_range_uj
    sysfs.write(zone / "energy_uj", 5_000_000)
    third, _ = probe(c, memo=memo, now=102.0)
    assert third.power_w == pytest.approx((262_143_328_850 - 45_000_000 + 5_000_000) / 1e6)


def test_importing_telemetry_stays_light():
    code = (
        "import sys, smartollama.telemetry as t; t.probe; "
        "print(','.join(m for m in ('pynvml', 'psutil', 'httpx', 'prometheus_client', 'pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_rapl_firmware_no_limit_is_not_a_limit(tmp_path):
    # layout per Documentation/power/powercap/powercap.rst; 4090 W is what firmware
    # writes for "unlimited" near the 15-bit limit field's ceiling (4095.875 W)
    sysfs.rapl(tmp_path, limit_uw=4_090_000_000)
    r, _ = probe(TelemetryConfig(source="cpu", root=str(tmp_path), timeout_s=5), now=1.0)
    assert r.power_limit_w == NA("no limit set (firmware writes 4090 W)")
    assert r.energy_j == pytest.approx(123.0)


def test_origin_survives_the_state_cache_round_trip(tmp_path):
    sysfs.amdgpu_dgpu(tmp_path)
    r, _ = probe(TelemetryConfig(source="amdgpu", root=str(tmp_path), timeout_s=5), now=1.0)
    assert r.origin["power_w"] == {"source": "sysfs", "field": "card1/device/hwmon/hwmon3/power1_average"}
    back = Reading.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.origin == r.origin and back.power_w == r.power_w

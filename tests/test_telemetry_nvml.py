"""The nvml source against a fake pynvml module (the library's surface, not our code)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from fakes import nvml as fake
from smartollama.config import TelemetryConfig
from smartollama.telemetry import NA, probe


@pytest.fixture
def install(monkeypatch):
    def _install(*gpus: fake.FakeGPU, **kwargs):
        module = fake.make(list(gpus) if gpus else None, **kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module
    return _install


def read(index: int = 0, **kwargs):
    reading, memo = probe(TelemetryConfig(source="nvml", index=index, timeout_s=2, **kwargs), now=1000.0)
    json.dumps(memo)
    json.dumps(reading.to_dict())
    return reading


def test_consumer_card_two_fans_highest_wins(install):
    install(fake.FakeGPU(fans=[38, 41]))
    r = read()
    assert r.error is None
    assert r.fan_pct == 41
    assert r.detail["fans_pct"] == [38, 41]
    assert r.detail["name"] == "NVIDIA GeForce RTX 4090"
    assert r.temp_c == 63


def test_power_in_watts_and_energy_in_joules(install):
    install(fake.FakeGPU(power_mw=287_500, limit_mw=450_000, energy_mj=91_234_567, util=57))
    r = read()
    assert r.power_w == pytest.approx(287.5)
    assert r.power_limit_w == pytest.approx(450.0)
    assert r.energy_j == pytest.approx(91_234.567)
    assert r.util_pct == 57


def test_datacenter_card_without_fans_is_not_zero(install):
    install(fake.h100())
    r = read()
    assert r.fan_pct == NA("no fan")
    assert r.get("fan_pct") is None
    assert r.detail["name"] == "NVIDIA H100 80GB HBM3"
    assert r.power_limit_w == pytest.approx(700.0)


def test_fan_count_not_supported_reads_not_supported(install):
    install(fake.FakeGPU(fans=None))
    assert read().fan_pct == NA("not supported")


def test_memory_v2_excludes_reserved(install):
    gpu = fake.FakeGPU(mem_total=25_757_220_864, mem_reserved=333_643_776, mem_used=1_012_000_000)
    install(gpu)
    r = read()
    assert r.detail["memory_api"] == "v2"
    assert r.mem_total_gb == pytest.approx(25.757220864)
    assert r.mem_free_gb == pytest.approx((25_757_220_864 - 333_643_776 - 1_012_000_000) / 1e9)


def test_memory_falls_back_to_v1_on_an_old_driver(install):
    install(fake.FakeGPU(mem_v2=False))
    r = read()
    assert r.detail["memory_api"] == "v1"
    assert r.mem_total_gb == pytest.approx(25.757220864)


def test_memory_v1_when_the_module_has_no_v2_constant(install):
    module = install(fake.FakeGPU())
    del module.nvmlMemory_v2
    assert read().detail["memory_api"] == "v1"


def test_missing_function_is_logged_once_across_probes(install, caplog):
    install(fake.FakeGPU(driver_lacks={"nvmlDeviceGetTotalEnergyConsumption"}))
    caplog.set_level(logging.WARNING, logger="smartollama.telemetry")
    readings = [read() for _ in range(4)]
    assert all(r.energy_j == NA("not supported by driver") for r in readings)
    assert all(r.power_w == pytest.approx(287.5) for r in readings)
    warnings = [rec for rec in caplog.records if "nvmlDeviceGetTotalEnergyConsumption" in rec.getMessage()]
    assert len(warnings) == 1


def test_function_absent_from_the_module_is_not_supported_by_driver(install, caplog):
    install(fake.FakeGPU(), module_lacks=("nvmlDeviceGetUtilizationRates",))
    caplog.set_level(logging.WARNING, logger="smartollama.telemetry")
    assert read().util_pct == NA("not supported by driver")
    assert read().util_pct == NA("not supported by driver")
    assert sum("nvmlDeviceGetUtilizationRates" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("LIBRARY_NOT_FOUND", "NVML library not found"),
        ("DRIVER_NOT_LOADED", "NVIDIA driver not loaded"),
        ("UNINITIALIZED", "NVML uninitialized"),
    ],
)
def test_no_library_or_driver_is_unavailable_with_the_reason(install, code, reason):
    install(init_error=code)
    r = read()
    assert r.error is not None and r.error.startswith(reason)
    assert all(isinstance(getattr(r, f), NA) for f in ("fan_pct", "temp_c", "power_w", "mem_free_gb"))


def test_throttle_bits_are_named(install):
    install(fake.FakeGPU(reasons=fake.SW_POWER_CAP | fake.HW_THERMAL | fake.GPU_IDLE))
    r = read()
    assert set(r.detail["throttle"]) == {"sw_power_cap", "hw_thermal_slowdown", "gpu_idle"}
    assert r.detail["throttle_thermal"] is True
    assert r.detail["throttle_power"] is True


def test_throttle_falls_back_to_the_old_name(install):
    install(fake.FakeGPU(reasons=fake.HW_POWER_BRAKE), module_lacks=("nvmlDeviceGetCurrentClocksEventReasons",))
    r = read()
    assert r.detail["throttle"] == ["hw_power_brake_slowdown"]
    assert r.detail["throttle_thermal"] is False and r.detail["throttle_power"] is True


def test_device_by_uuid_and_a_missing_index(install):
    install(fake.FakeGPU(), fake.h100())
    r, _ = probe(TelemetryConfig(source="nvml", uuid="GPU-0d4e1f00-0000-4000-8000-000000000100"), now=1.0)
    assert r.detail["name"] == "NVIDIA H100 80GB HBM3"
    r = read(index=5)
    assert r.error == "no NVIDIA GPU with index 5"


def test_not_supported_field_is_na_not_zero(install):
    install(fake.FakeGPU(not_supported={"nvmlDeviceGetPowerUsage"}))
    r = read()
    assert r.power_w == NA("not supported")
    assert r.temp_c == 63


def test_pynvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    r = read()
    assert r.error is not None and "not installed" in r.error


def test_uuid_without_the_gpu_prefix_finds_the_gpu(install):
    # nvidia_gpu_exporter shows UUIDs without `GPU-`; NVML wants the nvidia-smi form
    install(fake.FakeGPU(uuid="GPU-5a1c0de0-0000-4000-8000-000000000001"))
    bare = read(uuid="5a1c0de0-0000-4000-8000-000000000001")
    full = read(uuid="GPU-5a1c0de0-0000-4000-8000-000000000001")
    assert bare.error is None and bare.temp_c == full.temp_c == 63
    assert bare.origin["temp_c"] == {"source": "nvml", "field": "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)"}


def test_a_zero_power_reading_is_not_available(install):
    install(fake.FakeGPU(power_mw=0))
    r = read()
    assert r.power_w == NA("reads 0 W: power sensor not available")
    assert "power_w" not in r.origin

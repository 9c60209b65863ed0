"""The prometheus source on real exporter pages (tests/fixtures/telemetry/*/SOURCE.md),
served on a loopback HTTP server: the values `sollama status` shows for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import exporters
from smartollama.config import TelemetryConfig
from smartollama.telemetry import NA, probe

FIXTURES = Path(__file__).parent / "fixtures" / "telemetry"
MIB = 1024 * 1024


def read(page: str, **match: str):
    with exporters.serve((FIXTURES / page).read_text()) as url:
        r, _ = probe(TelemetryConfig(source="prometheus", url=url, match=match, timeout_s=5), now=1.0)
    return r


A30_0 = "GPU-265c9814-6156-355b-e589-ff2064894f16"


def test_dcgm_mig_instance_by_gpu_i_id():
    r = read("dcgm-exporter/a30-mig.metrics", gpu="0", GPU_I_ID="4")
    assert r.error is None
    assert r.mem_total_gb == pytest.approx((6012 + 3) * MIB / 1e9)    # the 1g.6gb instance, not the A30
    assert r.mem_free_gb == pytest.approx(6012 * MIB / 1e9)
    assert r.detail["mig_instance"] == "4 (1g.6gb)"
    assert r.temp_c == 35
    assert r.util_pct == NA("not measured per MIG instance")
    assert r.origin["mem_free_gb"] == {
        "source": "dcgm-exporter",
        "field": f'DCGM_FI_DEV_FB_FREE{{gpu="0",UUID="{A30_0}",GPU_I_ID="4"}}'}


def test_dcgm_mig_without_an_instance_has_no_memory_and_says_which_exist():
    r = read("dcgm-exporter/a30-mig.metrics")
    assert r.detail["device"] == "0" and r.detail["devices"] == 2
    assert r.mem_total_gb == NA("MIG is on: set match.GPU_I_ID to one instance (3, 4, 5, 6)")
    assert r.temp_c == 35
    by_uuid = read("dcgm-exporter/a30-mig.metrics", uuid=A30_0[4:], GPU_I_ID="6")
    assert by_uuid.detail["device"] == "0" and by_uuid.mem_free_gb == pytest.approx(6012 * MIB / 1e9)
    missing = read("dcgm-exporter/a30-mig.metrics", gpu="1", GPU_I_ID="6")
    assert missing.error == ('no MIG instance matches {gpu="1", GPU_I_ID="6"} on GPU 1 (instances: 3, 4)')


def test_dcgm_exporter_1x_names():
    r = read("dcgm-exporter/v1x-node-textfile.metrics")
    assert r.detail["exporter"] == "dcgm-exporter 1.x"
    assert (r.temp_c, r.power_w, r.util_pct) == (34, pytest.approx(31.737), 0)   # an idle GPU: 0 % is real
    assert r.energy_j == pytest.approx(7824.041)                                 # mJ → J
    assert r.origin["power_w"]["field"] == 'dcgm_power_usage{gpu="0",uuid="GPU-8f640a3c-7e9a-608d-02a3-f4372d72b323"}'


def test_dcgm_blank_sentinels_are_no_value():
    r = read("dcgm-exporter/blank-sentinels.metrics")
    blank = NA("the exporter has no value (NaN or a DCGM blank)")
    assert (r.power_w, r.energy_j, r.util_pct) == (blank, blank, blank)
    assert r.temp_c == 41
    assert r.mem_free_gb == pytest.approx(32000 * MIB / 1e9)


@pytest.mark.parametrize("page,want", [
    ("linux-x86_64__nvidia-h100-mig__590.48.01__load.metrics",
     {"temp_c": 53, "power_w": 433.78, "power_limit_w": 700, "mem_total_gb": 85.520809984,
      "mem_free_gb": 73.354182656, "util_pct": NA("not exported"), "fan_pct": NA("not exported")}),
    ("linux-x86_64__nvidia-geforce-rtx-4080-super__595.71.05__load.metrics",
     {"temp_c": 46, "power_w": 84.24, "power_limit_w": 320, "mem_free_gb": 15.17289472,
      "util_pct": 7.0, "fan_pct": 0.0}),                       # a zero-RPM fan reads 0 %
    ("linux-x86_64__nvidia-h200__590.48.01__idle.metrics",
     {"temp_c": 28, "power_w": 77.71, "mem_total_gb": 150.754820096, "util_pct": 0.0}),
])
def test_nvidia_gpu_exporter_captures(page, want):
    r = read(f"nvidia_gpu_exporter/{page}", uuid="GPU-00000000-0000-0000-0000-000000000000")
    assert r.detail["exporter"] == "nvidia_gpu_exporter"
    for field, value in want.items():
        got = getattr(r, field)
        assert got == (value if isinstance(value, NA) else pytest.approx(value)), field
    assert r.origin["temp_c"]["field"] == 'nvidia_smi_temperature_gpu{uuid="00000000-0000-0000-0000-000000000000"}'


def test_mi300x_vf_edge_temperature_zero_is_not_available():
    r = read("device-metrics-exporter/mi300x-vf-edge-zero.metrics")
    assert r.temp_c == NA("reads 0 °C: sensor not available")
    assert r.detail["name"] == "Aqua Vanjaram [Instinct MI300X VF]"


def test_ryzen_ai_max_package_power_zero_is_not_available():
    r = read("device-metrics-exporter/ryzen-ai-max-power-zero.metrics")
    assert r.power_w == NA("reads 0 W: power sensor not available")


def test_device_metrics_exporter_early_names():
    r = read("device-metrics-exporter/early-names.metrics", uuid="5bff74a1-0000-1000-8012-a1b2c3d4e5f6")
    assert (r.temp_c, r.util_pct) == (44, 12)
    assert r.mem_total_gb == pytest.approx(196592 * MIB / 1e9)
    assert r.origin["util_pct"]["field"].startswith('gpu_usage{gpu_id="0",GPU_UUID=')

"""The prometheus source against exporter pages served on a real loopback HTTP server."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from fakes import exporters
from smartollama.config import TelemetryConfig
from smartollama.telemetry import NA, probe


def read(url: str, *, match=None, memo=None, now: float = 100.0, timeout_s: float = 2.0):
    c = TelemetryConfig(source="prometheus", url=url, match=match or {}, timeout_s=timeout_s)
    reading, memo = probe(c, memo=memo, now=now)
    json.dumps(reading.to_dict())
    json.dumps(memo)
    return reading, memo


def test_dcgm_exporter_picks_gpu_by_matcher():
    with exporters.serve(exporters.DCGM) as url:
        r, _ = read(url, match={"gpu": "1"})
    assert r.error is None
    assert r.detail["exporter"] == "dcgm-exporter"
    assert r.detail["device"] == "1"
    assert r.detail["name"] == "NVIDIA H100 80GB HBM3"
    assert r.temp_c == 58
    assert r.power_w == pytest.approx(512.3)
    assert r.util_pct == 97
    assert r.mem_free_gb == pytest.approx(2154 * 1048576 / 1e9)  # MiB → GB
    assert r.mem_total_gb == pytest.approx((2154 + 78850) * 1048576 / 1e9)
    assert r.energy_j == pytest.approx(9876543.210)  # mJ → J
    assert r.fan_pct == NA("not exported")  # not in the default counters
    assert r.power_limit_w == NA("not exported")


def test_dcgm_match_by_uuid_with_or_without_prefix():
    with exporters.serve(exporters.DCGM) as url:
        a, _ = read(url, match={"uuid": "GPU-bbbbbbbb-0000-4000-8000-000000000001"})
        b, _ = read(url, match={"UUID": "bbbbbbbb-0000-4000-8000-000000000001"})
    assert a.detail["device"] == b.detail["device"] == "1"


def test_several_gpus_without_matcher_uses_the_first_and_says_so():
    with exporters.serve(exporters.DCGM) as url:
        r, _ = read(url)
    assert r.detail["device"] == "0"
    assert r.detail["devices"] == 2
    assert "no match set" in r.detail["note_devices"]


def test_matcher_that_matches_nothing_is_unavailable():
    with exporters.serve(exporters.DCGM) as url:
        r, _ = read(url, match={"gpu": "7"})
    assert r.error is not None and 'no GPU matches {gpu="7"}' in r.error


def test_nvidia_gpu_exporter_ratios_and_absent_fan():
    with exporters.serve(exporters.NVIDIA_SMI) as url:
        consumer, _ = read(url, match={"index": "0"})
        h100, _ = read(url, match={"gpu": "1"})  # `gpu` is an alias of nvidia_smi_gpu_info's index
    assert consumer.detail["exporter"] == "nvidia_gpu_exporter"
    assert consumer.detail["name"] == "NVIDIA GeForce RTX 4080 SUPER"
    assert consumer.fan_pct == pytest.approx(53.0)
    assert consumer.util_pct == pytest.approx(7.0)
    assert consumer.mem_free_gb == pytest.approx(15.17289472)
    assert consumer.power_limit_w == 320
    assert h100.detail["name"] == "NVIDIA H100 PCIe"
    assert h100.fan_pct == NA("not exported")  # an H100 has no fan series at all
    assert h100.power_w == pytest.approx(631.95)
    assert h100.util_pct == pytest.approx(100.0)


@pytest.mark.parametrize("page", [exporters.AMD_DME, exporters.AMD_DME_PREFIXED], ids=["plain", "amd_"])
def test_amd_device_metrics_exporter(page):
    with exporters.serve(page) as url:
        r, _ = read(url, match={"gpu_id": "1"})
    assert r.detail["exporter"] == "device-metrics-exporter"
    assert r.temp_c == 81  # junction
    assert r.power_w == 690
    assert r.util_pct == 99
    assert r.mem_total_gb == pytest.approx(196592 * 1048576 / 1e9)
    assert r.mem_free_gb == pytest.approx(6592 * 1048576 / 1e9)
    assert r.energy_j == pytest.approx(9.1e6)  # µJ → J
    assert r.fan_pct == NA("not exported")


def test_node_exporter_finds_the_amdgpu_chip():
    with exporters.serve(exporters.NODE_AMDGPU) as url:
        r, _ = read(url)
    assert r.detail["exporter"] == "node_exporter"
    assert r.detail["name"] == "amdgpu"
    assert r.temp_c == 79  # junction, named through node_hwmon_sensor_label
    assert r.detail["temps_c"] == {"edge": 61, "junction": 79, "mem": 70}
    assert r.fan_pct == pytest.approx(60.0)  # 1980 of 3300 RPM
    assert r.power_w == 241
    assert r.power_limit_w == 327
    assert r.util_pct == 88  # drm collector
    assert r.mem_free_gb == pytest.approx(5.0)
    assert "devices" not in r.detail  # k10temp and the board chip are not GPUs


def test_node_exporter_matcher_picks_another_chip():
    with exporters.serve(exporters.NODE_AMDGPU) as url:
        r, _ = read(url, match={"chip": "k10temp"})
    assert r.temp_c == 66.25  # Tctl
    assert r.fan_pct == NA("not exported")


def test_node_exporter_xe_power_from_energy_counter():
    energy = {"j": 5000.0}
    with exporters.serve(lambda: exporters.node_xe(energy["j"])) as url:
        first, memo = read(url, now=10.0)
        energy["j"] += 120.0
        second, _ = read(url, memo=memo, now=12.0)
    assert first.detail["name"] == "xe"
    assert first.temp_c == 57  # pkg
    assert first.power_w == NA("needs a second sample")
    assert first.power_limit_w == 190
    assert first.fan_pct == NA("fan speed in RPM only")
    assert second.power_w == pytest.approx(60.0)


def test_stalled_exporter_times_out_within_the_budget():
    with exporters.serve(exporters.DCGM) as url:
        read(url)   # first use imports httpx and the parser: not what this test times
    with exporters.serve(exporters.DCGM, delay_s=5.0) as url:
        started = time.monotonic()
        r, memo = read(url, timeout_s=0.3, memo={"kept": 1})
        took = time.monotonic() - started
    assert took < 2.0     # the 0.3 s budget, far from the exporter's 5 s stall (slack: a loaded CI)
    assert r.error == "timed out"
    assert all(getattr(r, f) == NA("timed out") for f in ("fan_pct", "temp_c", "power_w", "mem_free_gb"))
    assert memo == {"kept": 1}


def test_unreachable_and_http_errors_are_reasons():
    with exporters.serve(exporters.DCGM) as url:
        pass  # the server is gone once the block ends
    r, _ = read(url)
    assert r.error is not None and r.error.startswith("exporter unreachable")
    with exporters.serve("nope", status=503) as url:
        r, _ = read(url)
    assert r.error == "exporter answered HTTP 503"


def test_garbage_and_unknown_pages():
    with exporters.serve('DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-1" 5 6 7\n') as url:
        r, _ = read(url)
    assert r.error is not None and r.error.startswith("exporter page unreadable")
    with exporters.serve("<html><body>Grafana login</body></html>\n") as url:
        r, _ = read(url)
    assert r.error is not None and r.error.startswith("no GPU metrics recognised")
    with exporters.serve("# TYPE node_load1 gauge\nnode_load1 0.5\n") as url:
        r, _ = read(url)
    assert r.error is not None and r.error.startswith("no GPU metrics recognised")


def test_dcgm_all_zero_is_not_available():
    # DCGM with a broken host engine writes 0 for every field (built from the page above)
    import re

    page = re.sub(r'(\{gpu="1".*\}) \S+$', r"\1 0", exporters.DCGM, flags=re.M)
    with exporters.serve(page) as url:
        r, _ = read(url, match={"gpu": "1"})
    assert r.temp_c == NA("every value reads 0: the source cannot read this device")
    assert r.mem_free_gb == r.util_pct == r.temp_c
    assert r.origin == {}


# -- the page reader against prometheus_client's own parser --------------------------

def _library_parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What `parse` gave when it used prometheus_client's parser (the reference)."""
    from prometheus_client.parser import text_string_to_metric_families

    from smartollama.telemetry._nvidia_exporters import is_dcgm_blank
    from smartollama.telemetry.prometheus import select

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(select(text)):
        for s in family.samples:
            value = float(s.value)
            if s.name.lower().startswith("dcgm_") and is_dcgm_blank(value):
                value = math.nan
            out.setdefault(s.name, []).append((dict(s.labels), value))
            if family.type == "counter" and s.name == family.name + "_total":
                out.setdefault(family.name, []).append((dict(s.labels), value))
    return out


def _pages() -> list[str]:
    fixtures = Path(__file__).parent / "fixtures" / "telemetry"
    return [p.read_text() for p in sorted(fixtures.rglob("*.metrics"))] + [
        exporters.DCGM, exporters.NVIDIA_SMI, exporters.NODE_AMDGPU,
        exporters.node_xe(12.5),
        '# TYPE x_total counter\nDCGM_FI_DEV_GPU_TEMP{gpu="0",note="a \\"q\\" \\\\ b\\nc"} NaN 17\n']


@pytest.mark.parametrize("page", _pages())
def test_pages_read_as_prometheus_client_reads_them(page: str) -> None:
    from smartollama.telemetry.prometheus import parse

    def same(v: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, object]:
        return {k: [(lab, "nan" if math.isnan(x) else x) for lab, x in xs] for k, xs in v.items()}

    assert same(dict(parse(page))) == same(_library_parse(page))

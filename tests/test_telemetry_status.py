"""`sollama status --json` (the installed command, a subprocess) on real captures:
each reading shows the capture's values and, per value, where it was read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_sollama
from fakes import exporters, sysfs

FIXTURES = Path(__file__).parent / "fixtures" / "telemetry"
MIB = 1024 * 1024


def test_status_json_shows_capture_values_and_their_origin(single_fleet: object, tmp_path: Path) -> None:
    host = next(iter(single_fleet)).url  # type: ignore[call-overload]
    strix, b580 = tmp_path / "strix", tmp_path / "b580"
    sysfs.install_dump(strix, "strixpoint")
    sysfs.install_dump(b580, "b580")
    a30 = (FIXTURES / "dcgm-exporter" / "a30-mig.metrics").read_text()
    vf = (FIXTURES / "device-metrics-exporter" / "mi300x-vf-edge-zero.metrics").read_text()
    with exporters.serve(a30) as a30_url, exporters.serve(vf) as vf_url:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(f"""
[[backends]]
id = "a30-mig"
host = "{host}"
hardware = "nvidia"
telemetry = {{ source = "prometheus", url = "{a30_url}", match = {{ gpu = "0", GPU_I_ID = "4" }} }}
[[backends]]
id = "strix"
host = "{host}"
hardware = "amd"
telemetry = {{ source = "amdgpu", root = "{strix}" }}
[[backends]]
id = "b580"
host = "{host}"
hardware = "igpu"
telemetry = {{ source = "intel-gpu", root = "{b580}" }}
[[backends]]
id = "mi300x-vf"
host = "{host}"
hardware = "amd"
telemetry = {{ source = "prometheus", url = "{vf_url}" }}
""")
        r = run_sollama("status", "--json")
    assert r.returncode == 0, r.stderr
    got = {b["id"]: b["reading"] for b in json.loads(r.stdout)["backends"]}

    a30r = got["a30-mig"]
    assert a30r["mem_total_gb"] == pytest.approx(6015 * MIB / 1e9)
    assert a30r["origin"]["mem_total_gb"]["source"] == "dcgm-exporter"
    assert 'GPU_I_ID="4"' in a30r["origin"]["mem_total_gb"]["field"]

    s = got["strix"]
    assert s["mem_total_gb"] == pytest.approx((536_870_912 + 16_441_004_032) / 1e9)
    assert s["power_w"] == pytest.approx(9.087)
    assert s["origin"]["temp_c"] == {"source": "sysfs", "field": "card1/device/hwmon/hwmon6/temp1_input"}

    b = got["b580"]
    assert b["power_limit_w"] == 190.0
    assert b["origin"]["power_limit_w"]["field"] == "card1/device/hwmon/hwmon2/power1_cap"

    v = got["mi300x-vf"]
    assert v["temp_c"] == {"na": "reads 0 °C: sensor not available"}
    assert "temp_c" not in v.get("origin", {})

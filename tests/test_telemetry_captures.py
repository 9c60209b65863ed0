"""The sysfs readers on real /sys/class/drm dumps (LACT's test snapshots), and
node_exporter's page for the same cards read to the same values.

Each expected value is the capture's own number in sollama's unit (what
`sollama status` shows): µW → W, µJ → J, m°C → °C, bytes → GB (1e9).
"""

from __future__ import annotations

import pytest

from fakes import exporters, node_exporter, sysfs
from smartollama.config import TelemetryConfig
from smartollama.telemetry import NA, probe


def cfg(source: str, root, **kw) -> TelemetryConfig:
    return TelemetryConfig(source=source, root=str(root), timeout_s=5, **kw)


def test_strix_point_apu_memory_is_carve_out_plus_gtt(tmp_path):
    sysfs.install_dump(tmp_path, "strixpoint")
    r, _ = probe(cfg("amdgpu", tmp_path), now=1.0)
    assert r.detail["apu"] is True                      # gpu_metrics format_revision 3
    assert r.detail["vram_total_gb"] == pytest.approx(0.537)   # the carve-out alone
    assert r.mem_total_gb == pytest.approx((536_870_912 + 16_441_004_032) / 1e9)
    assert r.mem_free_gb == pytest.approx((536_870_912 - 514_580_480 + 16_441_004_032 - 3_946_811_392) / 1e9)
    assert r.temp_c == 38.0 and r.power_w == pytest.approx(9.087) and r.util_pct == 3
    assert r.fan_pct == NA("no fan")
    assert r.origin["mem_total_gb"]["field"].endswith("mem_info_gtt_total")
    assert r.origin["power_w"] == {"source": "sysfs", "field": "card1/device/hwmon/hwmon6/power1_average"}


def test_phoenix_apu_and_a_discrete_card(tmp_path):
    sysfs.install_dump(tmp_path, "phoenix", "card1")
    sysfs.install_dump(tmp_path, "rx6900xt", "card0")
    apu, _ = probe(cfg("amdgpu", tmp_path, card="card1"), now=1.0)
    dgpu, _ = probe(cfg("amdgpu", tmp_path, card="card0"), now=1.0)
    assert apu.mem_total_gb == pytest.approx((4_294_967_296 + 31_433_977_856) / 1e9)
    assert dgpu.detail["apu"] is False                  # gpu_metrics format_revision 1
    assert dgpu.mem_total_gb == pytest.approx(17.163091968)
    assert dgpu.mem_free_gb == pytest.approx((17_163_091_968 - 668_274_688) / 1e9)
    assert dgpu.temp_c == 59.0                           # junction
    assert dgpu.fan_pct == 0.0                           # 0 of 3400 RPM: a zero-RPM fan mode, a reading
    assert dgpu.power_w == 36.0 and dgpu.power_limit_w == 289.0


def test_rx7900xtx_without_memory_files(tmp_path):
    sysfs.install_dump(tmp_path, "rx7900xtx")
    r, _ = probe(cfg("amdgpu", tmp_path), now=1.0)
    assert r.mem_total_gb == NA("no mem_info_vram_total")
    assert r.temp_c == 61.0 and r.power_w == 68.0 and r.power_limit_w == 290.0
    assert r.fan_pct == 0.0


def test_b580_limit_is_power1_cap_not_crit(tmp_path):
    sysfs.install_dump(tmp_path, "b580")
    r, _ = probe(cfg("intel-gpu", tmp_path), now=1.0)
    assert r.power_limit_w == 190.0                      # power1_cap; power1_crit reads 380
    assert r.detail["power_limit_sensor"] == "power1_cap"
    assert r.energy_j == pytest.approx(11031.745544)     # energy1 (card)
    assert r.fan_pct == pytest.approx(1235 / 2160 * 100)  # the faster of two fans, of fanN_max
    assert r.temp_c == 54.0                               # pkg


def test_b580_on_6_16_counts_energy_on_the_package_channel(tmp_path):
    card = sysfs.install_dump(tmp_path, "b580-6.16")
    c = cfg("intel-gpu", tmp_path)
    first, memo = probe(c, now=10.0)
    assert first.detail["energy_sensor"] == "energy2_input"  # energy1_input reads 0
    assert first.energy_j == pytest.approx(29523.753173)
    assert first.power_w == NA("needs a second sample")
    assert first.power_limit_w == NA("no sustained power limit exposed (power1_crit is the peak limit)")
    sysfs.write(card / "device" / "hwmon" / "hwmon4" / "energy2_input", 29_523_753_173 + 60_000_000)
    second, _ = probe(c, memo=memo, now=12.0)
    assert second.power_w == pytest.approx(30.0)           # 60 J in 2 s, not 0 W from energy1


def test_a380_on_xe_has_only_the_package_channel(tmp_path):
    card = sysfs.install_dump(tmp_path, "a380-xe")
    c = cfg("intel-gpu", tmp_path)
    first, memo = probe(c, now=0.0)
    assert first.energy_j == pytest.approx(59540.97052)
    assert first.power_limit_w == 55.0                    # power2_max
    assert first.temp_c == 56.0
    assert first.fan_pct == NA("fan speed in RPM only")
    sysfs.write(card / "device" / "hwmon" / "hwmon0" / "energy2_input", 59_540_970_520 + 40_000_000)
    second, _ = probe(c, memo=memo, now=1.0)
    assert second.power_w == pytest.approx(40.0)
    assert second.origin["power_w"]["field"] == "Δ card0/device/hwmon/hwmon0/energy2_input / Δt"


def test_a380_on_i915(tmp_path):
    sysfs.install_dump(tmp_path, "a380-i915")
    r, _ = probe(cfg("intel-gpu", tmp_path), now=0.0)
    assert r.power_limit_w == 55.0                        # power1_max; power1_rated_max reads 0
    assert r.energy_j == pytest.approx(25637.161804)
    assert r.temp_c == 55.0


def _node_read(page: str, **kw):
    with exporters.serve(page) as url:
        return probe(TelemetryConfig(source="prometheus", url=url, timeout_s=5, **kw), now=1.0)[0]


@pytest.mark.parametrize("dump,source", [
    ("rx6900xt", "amdgpu"), ("vega56", "amdgpu"), ("strixpoint", "amdgpu"),
    ("b580", "intel-gpu"), ("b580-6.16", "intel-gpu"), ("a380-xe", "intel-gpu"),
])
def test_node_exporter_reads_a_card_as_sysfs_does(tmp_path, dump, source):
    card = sysfs.install_dump(tmp_path, dump)
    direct, _ = probe(cfg(source, tmp_path), now=1.0)
    via_node = _node_read(node_exporter.page({card.name: card}))
    fields = ["fan_pct", "temp_c", "power_w", "power_limit_w", "energy_j"]
    if source == "amdgpu":
        fields += ["mem_total_gb", "mem_free_gb", "util_pct"]
    for f in fields:
        assert getattr(via_node, f) == pytest.approx(getattr(direct, f)) if not isinstance(
            getattr(direct, f), NA) else isinstance(getattr(via_node, f), NA), f


def test_node_exporter_two_amd_cards_tied_by_chip(tmp_path):
    apu = sysfs.install_dump(tmp_path, "phoenix", "card1")
    dgpu = sysfs.install_dump(tmp_path, "rx6900xt", "card0")
    page = node_exporter.page({"card0": dgpu, "card1": apu})
    by_card = _node_read(page, match={"card": "card0"})
    by_chip = _node_read(page, match={"chip": node_exporter.chip_label(apu)})
    assert by_card.mem_total_gb == pytest.approx(17.163091968)
    assert by_card.temp_c == 59.0                          # the rx6900xt's own chip
    assert by_card.origin["mem_total_gb"]["field"] == 'node_drm_memory_vram_size_bytes{card="card0"}'
    assert by_chip.detail["card"] == "card1"
    assert by_chip.mem_total_gb == pytest.approx((4_294_967_296 + 31_433_977_856) / 1e9)
    assert by_chip.temp_c == 25.0


def test_node_exporter_without_card_info_chip_uses_match_card(tmp_path):
    apu = sysfs.install_dump(tmp_path, "phoenix", "card1")
    dgpu = sysfs.install_dump(tmp_path, "rx6900xt", "card0")
    page = node_exporter.page({"card0": dgpu, "card1": apu}, with_chip=False)
    unset = _node_read(page)
    assert isinstance(unset.mem_total_gb, NA) and "set match.card" in unset.mem_total_gb.reason
    chosen = _node_read(page, match={"card": "card0", "chip": node_exporter.chip_label(dgpu)})
    assert chosen.mem_total_gb == pytest.approx(17.163091968)
    assert chosen.power_w == 36.0


def test_node_exporter_intel_igpu_beside_an_amd_card(tmp_path):
    igpu = sysfs.install_dump(tmp_path, "tigerlake", "card0")
    dgpu = sysfs.install_dump(tmp_path, "rx6900xt", "card1")
    page = node_exporter.page({"card0": igpu, "card1": dgpu}, with_chip=False)
    assert 'node_drm_memory_vram_size_bytes{card="card0"} 0' in page   # procfs' zeros for a non-amdgpu card
    r = _node_read(page)
    assert r.detail["card"] == "card1"
    assert r.mem_total_gb == pytest.approx(17.163091968) and r.util_pct == 3


def test_node_exporter_before_card_info_chip_needs_the_chip_with_the_card(tmp_path):
    apu = sysfs.install_dump(tmp_path, "phoenix", "card1")
    dgpu = sysfs.install_dump(tmp_path, "rx6900xt", "card0")
    page = node_exporter.page({"card0": dgpu, "card1": apu}, with_chip=False)
    r = _node_read(page, match={"card": "card0"})   # which chip is card0's? the page cannot say
    assert r.error is not None and "set match.chip as well as match.card" in r.error


def test_node_exporter_zero_vram_size_is_not_available(tmp_path):
    # the RX 7900 XTX dump has no mem_info files: node_exporter writes 0 for each
    card = sysfs.install_dump(tmp_path, "rx7900xtx")
    page = node_exporter.page({card.name: card})
    assert 'node_drm_memory_vram_size_bytes{card="card0"} 0' in page
    r = _node_read(page)
    assert r.mem_total_gb == NA("node_drm_memory_vram_size_bytes reads 0: a card amdgpu does not "
                                "drive, or its mem_info files are missing")
    assert isinstance(r.util_pct, NA)                     # busy 0 of a card that reads nothing
    assert r.temp_c == 61.0 and r.power_w == 68.0          # the hwmon chip still reads

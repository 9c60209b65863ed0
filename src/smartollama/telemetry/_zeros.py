"""What an exact 0 means, field by field: a reading, or "not available".

Exporters and drivers write 0 where they have no value: AMD's
device-metrics-exporter writes `gpu_edge_temperature 0` on an MI300X VF and
`gpu_package_power 0` on a Ryzen AI Max APU; node_exporter's drm collector
writes 0 for a file it could not read (procfs' ClassDRMCardAMDGPUStats leaves
the field at its zero value); DCGM writes 0 for every field when it cannot
talk to the GPU; the xe driver on kernel 6.16 leaves `energy1_input` (card) at
0 while `energy2_input` (package) counts. A 0 taken as a reading passes every
quiet and efficiency limit, so the rule for each field is written here once
and every source applies it:

| field          | an exact 0 means | why |
| ---            | --- | --- |
| fan_pct        | a reading | zero-RPM fan modes stop the fan at low load |
| util_pct       | a reading | an idle GPU |
| mem_free_gb    | a reading | a full card (only where the total is known) |
| temp_c         | not available | a working die never reads exactly 0 °C; it is a missing sensor |
| power_w        | not available | a powered device never draws 0 W; it is a missing sensor |
| power_limit_w  | not available | a limit of 0 W is "no limit set" (i915/xe `power1_max`, DCGM) |
| mem_total_gb   | not available | a device with no memory is a file that was not read |
| energy_j       | not available | a counter since boot that reads 0 is not counting |

And when every value a source gave for a device is 0 (DCGM with a broken
host engine), the whole reading is not available.
"""

from __future__ import annotations

from smartollama.telemetry.base import FIELDS, NA, Reading

#: field → the reason shown when it reads exactly 0 (fields not listed: 0 is a reading)
ZERO_IS_NA: dict[str, str] = {
    "temp_c": "reads 0 °C: sensor not available",
    "power_w": "reads 0 W: power sensor not available",
    "power_limit_w": "reads 0 W: no limit set",
    "mem_total_gb": "reads 0: memory size not available",
    "energy_j": "reads 0 J: energy counter not running",
}

ALL_ZERO = "every value reads 0: the source cannot read this device"


def apply(reading: Reading) -> Reading:
    """Turn the zeros that mean "not available" into NA, in place (see the table above)."""
    read = {f: getattr(reading, f) for f in FIELDS if not isinstance(getattr(reading, f), NA)}
    if len(read) >= 3 and all(float(v) == 0.0 for v in read.values()):
        for f in read:
            reading.put(f, NA(ALL_ZERO), "", "")
        reading.detail["zeros"] = ALL_ZERO
        return reading
    for f, why in ZERO_IS_NA.items():
        if f in read and float(read[f]) == 0.0:
            reading.put(f, NA(why), "", "")
    total, free = reading.mem_total_gb, reading.mem_free_gb
    # 0 free of an unknown total is no reading either (both come from one set of files)
    if isinstance(total, NA) and not isinstance(free, NA) and float(free) == 0.0:
        reading.put("mem_free_gb", NA(total.reason), "", "")
    return reading

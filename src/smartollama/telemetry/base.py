"""The one `Reading` model every telemetry source returns.

Units are fixed here and converted by each source where it reads a value:
percent, degrees Celsius, watts, gigabytes (1e9 bytes), joules. A value a
device cannot give is `NA(reason)`, never 0 (DESIGN.md: "not available").
"""

from __future__ import annotations

from smartollama.record import field, record

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

#: Reading fields, each a float or NA.
FIELDS: tuple[str, ...] = (
    "fan_pct",        # highest fan speed, % of max
    "temp_c",         # routing temperature, °C (junction where the device has it, else edge/GPU)
    "power_w",        # power draw now, W
    "power_limit_w",  # enforced power limit, W
    "mem_total_gb",   # device memory total, GB
    "mem_free_gb",    # device memory free now, GB
    "util_pct",       # busy %, 0..100
    "energy_j",       # energy counter since some origin, J (monotonic)
)


@record(frozen=True, kw_only=False)
class NA:
    """Not available, and why ("no fan", "not supported", "timed out")."""

    reason: str

    def __str__(self) -> str:
        return f"n/a ({self.reason})"


Value = float | NA


def _na(reason: str = "not read") -> Any:
    return field(default_factory=lambda: NA(reason))


@record(kw_only=False)
class Reading:
    source: str
    time: float = 0.0  # epoch seconds when read
    fan_pct: Value = _na()
    temp_c: Value = _na()
    power_w: Value = _na()
    power_limit_w: Value = _na()
    mem_total_gb: Value = _na()
    mem_free_gb: Value = _na()
    util_pct: Value = _na()
    energy_j: Value = _na()
    #: extras a source knows: device name, throttle reasons, memory API version...
    detail: dict[str, Any] = field(default_factory=dict)
    #: set when the whole source failed (library missing, host down); fields are NA
    error: str | None = None
    #: field → {"source": ..., "field": ...}: where each available value was read
    #: ("sysfs", "card1/device/mem_info_vram_total"; "dcgm-exporter", 'DCGM_FI_DEV_FB_FREE{gpu="0"}'),
    #: so a user can check it against nvidia-smi, amd-smi or the exporter's page
    origin: dict[str, dict[str, str]] = field(default_factory=dict)

    def put(self, name: str, value: Value, source: str, where: str) -> None:
        """Set a field, and where it came from when it is a number."""
        setattr(self, name, value)
        if isinstance(value, NA):
            self.origin.pop(name, None)
        else:
            self.origin[name] = {"source": source, "field": where}

    def get(self, name: str) -> float | None:
        """The value of a field, or None when not available."""
        v = getattr(self, name)
        return None if isinstance(v, NA) else float(v)

    def reason(self, name: str) -> str | None:
        v = getattr(self, name)
        return v.reason if isinstance(v, NA) else None

    @classmethod
    def unavailable(cls, source: str, reason: str, time: float = 0.0) -> Reading:
        """A reading whose every field is NA for the same reason."""
        r = cls(source=source, time=time, error=reason)
        for f in FIELDS:
            setattr(r, f, NA(reason))
        return r

    def to_dict(self) -> dict[str, Any]:
        """JSON form: numbers as numbers, NA as {"na": reason}."""
        out: dict[str, Any] = {"source": self.source, "time": self.time}
        for f in FIELDS:
            v = getattr(self, f)
            out[f] = {"na": v.reason} if isinstance(v, NA) else v
        if self.detail:
            out["detail"] = self.detail
        if self.error:
            out["error"] = self.error
        if self.origin:
            out["origin"] = {f: dict(o) for f, o in self.origin.items()}
        return out

    def values(self) -> dict[str, float]:
        """Only the available fields (the verdict's `telemetry` entry)."""
        out: dict[str, float] = {}
        for f in FIELDS:
            v = getattr(self, f)
            if not isinstance(v, NA):
                out[f] = round(float(v), 2)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reading:
        r = cls(source=str(d.get("source", "?")), time=float(d.get("time", 0.0)),
                detail=dict(d.get("detail") or {}), error=d.get("error"),
                origin={str(k): dict(v) for k, v in (d.get("origin") or {}).items()
                        if isinstance(v, dict)})
        for f in FIELDS:
            v = d.get(f)
            if isinstance(v, dict):
                setattr(r, f, NA(str(v.get("na", "not available"))))
            elif isinstance(v, int | float) and not isinstance(v, bool):
                setattr(r, f, float(v))
            else:
                setattr(r, f, NA("not read"))
        return r

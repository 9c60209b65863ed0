"""Telemetry: one module per source behind one `Reading` model.

`smartollama.telemetry.base` holds the model; `probe()` (in `dispatch`) reads
a backend's configured source within its time budget. Sources live in sibling
modules and are imported lazily by `probe()` so that a cached call never
imports pynvml, psutil or the HTTP client.
"""

from smartollama.telemetry.base import FIELDS, NA, Reading
from smartollama.telemetry.dispatch import probe

__all__ = ["FIELDS", "NA", "Reading", "probe"]

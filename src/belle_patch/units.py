"""Human-readable sizes and rates (binary units, as tqdm shows them)."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: float) -> str:
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(size: int, seconds: float) -> str:
    if seconds <= 0:
        return "n/a"
    return f"{format_bytes(size / seconds)}/s"

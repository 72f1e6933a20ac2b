"""Human-readable durations and shares for reports (the JSON keeps raw milliseconds)."""

from __future__ import annotations


def human_ms(ms: float) -> str:
    """A duration for people: 850 ms, 12.3 s, 4.0 min, 2.5 h, 3.1 d."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def share(part: float, whole: float) -> str:
    """`part` of `whole` as a percentage with one decimal ("n/a" of nothing)."""
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


__all__ = ["human_ms", "share"]

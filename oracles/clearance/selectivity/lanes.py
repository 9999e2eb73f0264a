"""The lanes of selectivity: the three clearance channels and the BLUE audit flag.

ASYCUDA calls them lanes: **C1** green (release), **C2** yellow (documentary check), **C3** red
(physical inspection) are the channels a declaration is routed to; **BLUE** marks it a
post-clearance audit candidate while the declaration itself follows its channel, so BLUE is a
lane a reason points to but never a channel.  Every place that names a lane uses this enum.
"""

from __future__ import annotations

from enum import StrEnum


class Lane(StrEnum):
    """A lane of selectivity; compares equal to its text ("C2"), as rule files write it."""

    C1 = "C1"  # green: release
    C2 = "C2"  # yellow: documentary check
    C3 = "C3"  # red: physical inspection
    BLUE = "BLUE"  # post-clearance audit candidate: a flag, not a channel

    @property
    def is_channel(self) -> bool:
        """Whether a declaration can be routed to this lane (C1, C2, C3; not BLUE)."""
        return self is not Lane.BLUE

    @property
    def severity(self) -> int:
        """How far a channel is from release: C1 1, C2 2, C3 3; BLUE 0, it routes nothing."""
        return SEVERITY.get(self, 0)


Channel = Lane
"""The name routing code uses: a channel is a Lane with `is_channel` (a Selection's channel
is never BLUE; `reroute` and rule files refuse it as a channel)."""

BLUE = Lane.BLUE
CHANNELS = (Lane.C1, Lane.C2, Lane.C3)
SAMPLED = (Lane.C2, Lane.C3)
"""The lanes random selection sends otherwise-C1 declarations to (a rule file's `sampling`)."""
TARGETED = (Lane.C2, Lane.C3, Lane.BLUE)
"""The lanes a rule file may set a target share for (`targets`)."""

# Severity of each channel, and back: the engine's hot loop reads these dicts directly.
SEVERITY = {Lane.C1: 1, Lane.C2: 2, Lane.C3: 3}
BY_SEVERITY = {v: k for k, v in SEVERITY.items()}

"""What one part of a replayed hour's step hands back to the step: Dagster results and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg


@dataclass
class Published:
    """The results (materializations with their checks) of one part of an hour, computed and already
    written to the sink, and the warnings for the run's log."""

    results: list[dg.MaterializeResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

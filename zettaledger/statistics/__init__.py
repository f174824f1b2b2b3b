"""What a statistics office publishes: vintages and revisions, exports, disclosure control, charts, and
footnotes for modelled figures. The roof of the layers: it may import the pipeline packages, never the reverse."""

from __future__ import annotations

from zettaledger.statistics.disclosure import Rules, protect_table
from zettaledger.statistics.vintages import accounts_at, close, publish, revisions

__all__ = ["Rules", "accounts_at", "close", "protect_table", "publish", "revisions"]

"""The pure core of reporting: events folded into interval rollups, presence into seconds, figures from sums.

No I/O and nothing of the project but itself (import-linter's pure-engines contract): the service reads
rows, turns them into the records here, and writes what comes back.

- ``intervals``: 15-minute UTC intervals, the wait histogram edges (``WAIT_EDGES``), exact microseconds.
- ``rollup``: what each interaction event adds to which (interval, queue, agent) row, and wrap-ups.
- ``presence``: agents' presence changes into seconds per state and interval.
- ``figures``: service-level counts (``SlCounts``) and ratios from summed rows.
"""

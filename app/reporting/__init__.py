"""Reporting: 15-minute interval rollups kept by workers from the router's events, reports, exports, schedules.

`engine/` is the pure core (what each event adds to which rollup row, presence into seconds, figures);
`service` reads and writes (and is what the SLA and workforce domains call), `exports` makes CSV and XLSX
files, `actors` runs the periodic jobs, `controllers` is the API under /api/v1/reports.
"""

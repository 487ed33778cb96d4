"""`tenline simulate --scenario FILE`: per-tenant results as JSON or a table; bad input exits with 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from app.server.cli import main

SMALL = Path(__file__).with_name("two-tenants.yaml")
MEASURES = {"offered", "answered", "abandoned", "removed", "service_level", "asa_seconds", "occupancy", "p_wait"}


def simulate(*args: str) -> Result:
    return CliRunner().invoke(main, ["simulate", *args])


def test_json_output_has_every_tenants_results() -> None:
    done = simulate("--scenario", str(SMALL), "--seed", "4", "--json")
    assert done.exit_code == 0, done.output
    output = json.loads(done.stdout)
    assert output["seed"] == 4 and output["scenario"] == str(SMALL)
    assert (output["agents"], output["queues"], output["duration_seconds"]) == (20, 3, 3600)
    assert output["engine_events"] > output["overall"]["offered"] > 200
    assert set(output["overall"]) == MEASURES | {"tenants_met"}
    assert set(output["tenants"]) == {"bank", "shop"}
    for row in output["tenants"].values():
        assert set(row) == MEASURES | {"target_service_level", "answer_target_seconds", "met"}
        assert row["offered"] == row["answered"] + row["abandoned"] + row["removed"]
        assert row["met"] is (row["service_level"] >= row["target_service_level"])
    assert (output["tenants"]["shop"]["target_service_level"], output["tenants"]["shop"]["answer_target_seconds"]) == (
        0.9,
        15,
    )
    assert sum(row["offered"] for row in output["tenants"].values()) == output["overall"]["offered"]
    assert simulate("--scenario", str(SMALL), "--seed", "4", "--json").stdout == done.stdout  # deterministic


def test_without_json_a_table() -> None:
    done = simulate("--scenario", str(SMALL), "--seed", "4")
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stdout.splitlines() if line.strip()]  # the transient bar leaves a blank line
    assert "20 agents" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.startswith("tenant"))
    assert "service level" in lines[header] and "met" in lines[header]
    assert [line.split()[0] for line in lines[header + 1 :]] == ["bank", "shop", "overall"]
    assert "tenants met" in lines[-1]


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    data["tenants"][1]["aht_seconds"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_bad_file_exits_with_2_naming_the_field(bad_file: Path) -> None:
    done = simulate("--scenario", str(bad_file), "--json")
    assert done.exit_code == 2
    assert "$.tenants[1].aht_seconds" in done.stderr and done.stdout == ""


def test_unreadable_files_exit_with_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("tenants: [unclosed\n")
    assert "cannot be read" in simulate("--scenario", str(broken)).stderr
    assert simulate("--scenario", str(broken)).exit_code == 2
    text = tmp_path / "center.txt"
    text.write_text(SMALL.read_text())
    done = simulate("--scenario", str(text))
    assert done.exit_code == 2 and ".json, .yaml or .yml" in done.stderr
    assert simulate("--scenario", str(tmp_path / "missing.yaml")).exit_code == 2


def test_scenario_and_single_queue_options_do_not_mix() -> None:
    mixed = simulate("--scenario", str(SMALL), "--agents", "3", "--patience-seconds", "60", "--json")
    assert mixed.exit_code == 2
    assert "cannot be combined with --agents, --patience-seconds" in mixed.stderr
    neither = simulate("--json")
    assert neither.exit_code == 2
    assert "missing option(s) --agents, --calls-per-interval" in neither.stderr
    assert "--scenario" in neither.stderr

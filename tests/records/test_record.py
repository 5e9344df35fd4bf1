"""Tests of distill_lib.records.record: every record type of the library survives a JSON round trip."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from distill_lib.core.config import RunConfig
from distill_lib.experiments.comparison import RunRecord
from distill_lib.experiments.real_task import RealTaskRecord, RealTaskRun
from distill_lib.experiments.seeds import SeedKind, SeedRun, SeedsRecord
from distill_lib.experiments.seeds.step import GapBin
from distill_lib.experiments.sweep import SweepCell
from distill_lib.experiments.sweep.step import CellRun
from distill_lib.experiments.world import WorldRecord
from distill_lib.records.record import Record, RecordError

HISTORY = [{"epoch": 0, "temperature": 3.0, "val_loss": 0.5, "action_agreement": 0.9}]
BIN = GapBin(bin=0, gap_low=0.0, gap_high=0.1, n=10, agreement=0.6, mean_regret=0.01)

EXAMPLES = [
    WorldRecord("synthetic", 100, 8, 4, 16, 16),
    RunRecord(RunConfig(mode="hard_only", alpha=0.0), HISTORY, 0, 0.5, 90, 10),
    SeedsRecord(
        {"hard_only": 0.0},
        {
            "world": SeedKind(
                "world", [0, 1], {"hard_only": 0.0}, RunConfig(), 1, "streams",
                [SeedRun(0, "hard_only", 0.0, {"action_agreement": 0.9}, 0.3, 1, [BIN])],
            )
        },
    ),
    SweepCell(1.0, "kl", [0.0, 1.0], [0], RunConfig(), "streams", [CellRun(0, 0.0, {"regret": 0.1}, 1)]),
    RealTaskRecord(
        {"real_task_widths": [8]}, "streams", "CartPole-v1", [8], [0], {"hard_only": 0.0}, {"params": 4866},
        {"n_states": 100}, {"episodes": 3}, [{"width": 8, "params": 162}],
        [RealTaskRun(8, 0, "hard_only", 0.0, 162, {"action_agreement": 0.8}, {}, 1, [9.0], 9.0, [9.0, 9.0], 1.8, [1.8, 1.8])],
        {"train": 0.1},
    ),
]  # fmt: skip


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip_through_json_text(record):
    text = json.dumps(record.to_json())
    again = type(record).from_json(json.loads(text))
    assert again == record
    assert type(again.to_json()) is dict


def test_ints_stay_ints_and_floats_floats():
    run = RunRecord.from_json(EXAMPLES[1].to_json())
    assert isinstance(run.history[0]["epoch"], int) and isinstance(run.history[0]["val_loss"], float)
    assert isinstance(run.config, RunConfig)


@dataclass(frozen=True)
class Small(Record):
    n: int
    xs: list[float]
    name: str | None = None


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"n": "3", "xs": []}, "Small.n: expected an integer"),
        ({"n": 3, "xs": [1, "a"]}, "Small.xs[1]: expected a number"),
        ({"n": 3, "xs": [], "extra": 1}, "unknown field(s) ['extra']"),
        ({"xs": []}, "Small: "),
        ([1, 2], "expected an object"),
        ({"n": True, "xs": []}, "expected an integer"),
    ],
)
def test_a_record_that_does_not_fit_is_refused(data, fragment):
    with pytest.raises(RecordError) as err:
        Small.from_json(data)
    assert fragment in str(err.value)


def test_a_config_inside_a_record_is_validated_again():
    bad = EXAMPLES[1].to_json()
    bad["config"]["epochs"] = 0
    with pytest.raises(ValueError, match="epochs=0"):
        RunRecord.from_json(bad)

"""The report's units: each row picks its own from its largest value, and both years of a row share it."""

from __future__ import annotations

import datetime as dt

from zettaledger.report import format_bytes, render, unit_for
from zettaledger.sinks.queries import CollectionFigures, LineageSummary, NationalAccounts

ZB, EB, GB, MB = 10**21, 10**18, 10**9, 10**6


def accounts(created: dict[tuple[int, str], int], collection: list[CollectionFigures] | None = None) -> NationalAccounts:
    return NationalAccounts(
        created={k: (v, 0) for k, v in created.items()},
        tokens_by_day={dt.date(2025, 1, 1): 10**9},
        high_quality_datasets=1,
        high_quality_bytes=5 * GB,
        registered_datasets=1,
        collection=collection or [],
        lineage=LineageSummary(0, 0, 0, 0, 0),
        events_counted=0,
        duplicates_dropped=0,
        dead_lettered=0,
    )


def table(a: NationalAccounts) -> list[str]:
    text = render(a, [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025))
    lines = text.splitlines()
    start = lines.index("Data created by source (2024 -> 2025)")
    return lines[start + 2 : start + 2 + len({s for _, s in a.created}) + 1]


def test_the_seed_table_reads_as_in_the_readme() -> None:
    seed = accounts(
        {
            (2024, "AI"): 19_400 * EB,
            (2025, "AI"): 26_920 * EB,
            (2024, "IOT"): 21_500 * EB,
            (2025, "IOT"): 25_140 * EB,
            (2024, "INFERENCE"): 70 * EB,
            (2025, "INFERENCE"): 101_340 * 10**15,
            (2024, "TRAINING"): 90 * EB,
            (2025, "TRAINING"): 98_140 * 10**15,
        }
    )
    assert table(seed) == [
        "  AI and system software          19.40 ZB      26.92 ZB     +38.76%",
        "  IoT sensing                     21.50 ZB      25.14 ZB     +16.93%",
        "  AI inference                    70.00 EB     101.34 EB     +44.77%",
        "  AI training                     90.00 EB      98.14 EB      +9.04%",
        "  Total                           41.06 ZB      52.26 ZB     +27.28%",
    ]
    text = render(seed, [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025))
    assert (
        "inference 101.34 EB exceeded training 98.14 EB for the first time (2024: inference 70.00 EB, training 90.00 EB)" in text
    )


def test_a_small_countrys_total_reads_in_its_own_unit() -> None:
    small = accounts({(2024, "IOT"): 8 * GB, (2025, "IOT"): 12_500 * MB, (2024, "AI"): 900 * MB, (2025, "AI"): 2 * GB})
    assert table(small) == [
        "  IoT sensing                      8.00 GB      12.50 GB     +56.25%",
        "  AI and system software           0.90 GB       2.00 GB    +122.22%",
        "  Total                            8.90 GB      14.50 GB     +62.92%",
    ]


def test_both_years_of_a_row_share_the_unit_of_the_larger() -> None:
    row = table(accounts({(2024, "AI"): 400 * MB, (2025, "AI"): 3 * ZB}))[0]
    assert "0.00 ZB" in row and "3.00 ZB" in row
    assert unit_for(999, 10**3) == "kB"
    assert unit_for(0, 0) == unit_for() == "B"
    assert format_bytes(1_500 * EB, unit_for(1_500 * EB, 5)) == "1.50 ZB"


def test_usable_and_attempted_bytes_of_a_pipeline_share_a_unit() -> None:
    runs = [CollectionFigures("robot-1", 3, 100, 95, 1_000 * GB, 950 * GB)]
    text = render(accounts({(2025, "AI"): GB}, runs), [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025))
    assert "usable 0.95 TB of 1.00 TB" in text
    assert "totalling 5.00 GB" in text  # high-quality bytes in their own unit, not "0.00 PB"


def test_modelled_figures_are_flagged_from_the_manifest_and_the_table_is_unchanged_without_it() -> None:
    import json

    from zettaledger.producers.generator import generate
    from zettaledger.report import Flags
    from zettaledger.statistics.provenance import footnotes

    manifest = json.loads(json.dumps(generate(size=0.01).manifest.to_json()))
    seed = accounts(
        {(2024, "AI"): 19_400 * EB, (2025, "AI"): 26_920 * EB, (2024, "IOT"): 21_500 * EB, (2025, "IOT"): 25_140 * EB}
    )
    days = [dt.date(2024, 1, 1), dt.date(2025, 1, 2)]
    plain = render(seed, days, (2025, 1), (2024, 2025))
    flagged = render(seed, days, (2025, 1), (2024, 2025), Flags(footnotes(manifest), "var/demo-manifest.json"))
    assert render(seed, days, (2025, 1), (2024, 2025), None) == plain
    # Every line of the plain table is in the flagged one, in order, with at most a flag appended.
    lines = flagged.splitlines()
    for plain_line, line in zip(plain.splitlines(), lines, strict=False):
        assert line == plain_line or (line.startswith(plain_line) and line[len(plain_line) :].startswith(" [E"))
    iot = next(line for line in lines if line.startswith("  IoT sensing"))
    ai = next(line for line in lines if line.startswith("  AI and system software"))
    assert iot.endswith("+16.93% [E1] [E2]") and ai.endswith("[E1]")  # 2024 assumed for both; IoT 2025 the residual
    assert next(line for line in lines if line.startswith("  2025-01-02")).endswith("[E3]")  # interpolated
    assert next(line for line in lines if line.startswith("  2024-01-01")).endswith("n/a")  # an anchor day: published
    notes = lines[
        lines.index("Published versus modelled (source: the generator's manifest, var/demo-manifest.json; SDMX OBS_STATUS E)") :
    ]
    assert notes[1].startswith("  [E1] (assumed) Modelled: the 2024 split by source is assumed")
    assert notes[2].startswith("  [E2] (residual) Modelled: the residual of the published 2025 total")
    assert "data_created/2025/IOT/bytes = 25,140,520,000,000,000,000,000" in notes[2]


def test_the_lineage_section_is_printed_only_with_lineage_accounts() -> None:
    from dataclasses import replace

    from zettaledger.sinks.queries import LineageAccounts

    plain = accounts({(2025, "IOT"): 10 * EB})
    text = render(plain, [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025))
    assert "Lineage accounts" not in text
    la = LineageAccounts(2025, 8 * EB, 1 * EB, 1 * EB, 0, (("IOT", 600), ("HIGH_QUALITY", 400)), 1000)
    assert la.gross == 10 * EB and la.net_new == 9 * EB
    lines = render(replace(plain, lineage_accounts=la), [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025)).splitlines()
    at = lines.index("Lineage accounts 2025: gross 10.00 EB, net new (unique + derived) 9.00 EB; replication ratio 0.1111")
    assert (
        lines[at + 1] == "  unique (created or captured) 8.00 EB (80.00%), derived 1.00 EB (10.00%), replicated 1.00 EB (10.00%)"
    )
    assert lines[at + 2].endswith("IoT sensing 0.60 kB (60.00%), registered high-quality datasets 0.40 kB (40.00%)")
    # the section and its blank line are all that was added
    assert lines[:at] + lines[at + 4 :] == text.splitlines()


def test_names_a_producer_sent_cannot_forge_report_lines() -> None:
    """Before: a pipeline_id holding ESC sequences and newlines printed raw, and forged lines of the table."""
    hostile = "robot\x1b[2J\x1b[H\nTotal  999 ZB\r\u202eevil"
    runs = [CollectionFigures(hostile, 3, 100, 95, GB, GB)]
    text = render(accounts({(2025, "AI"): GB}, runs), [dt.date(2025, 1, 1)], (2025, 1), (2024, 2025))
    assert not any(ch in text.replace("\n", "") for ch in "\x1b\r\u202e")
    assert "robot\\x1b[2J\\x1b[H\\x0aTotal  999 ZB\\x0d\\u202eevil" in text
    assert not any(line.startswith("Total  999") for line in text.splitlines())

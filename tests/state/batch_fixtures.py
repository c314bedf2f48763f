"""A county with batch tallies only ("east"): its manifest and batch tallies CSV."""

from __future__ import annotations

from pathlib import Path

# per batch (tabulator, batch, ballots): Mayor votes for Candidate 0..3
EAST = [("T1", "1", 50, (30, 12, 4, 2)), ("T1", "2", 40, (22, 11, 3, 1)),
        ("T2", "1", 60, (35, 15, 5, 3)), ("T2", "2", 30, (16, 9, 2, 1))]


def write_east(folder: Path, east: list = EAST) -> tuple[Path, Path]:  # noqa: ANN001
    """``east``'s manifest and batch tallies (Mayor, vote for 1; Council, vote for 4)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "east-manifest.csv"
    manifest.write_text("Container,Tabulator,Batch Name,Number of Ballots\n" + "".join(
        f"C1,{t},{b},{n}\n" for t, b, n, _ in east))
    tallies = folder / "east-tallies.csv"
    rows = ["Tabulator,Batch Name,Contest,Vote For,Choice,Votes"]
    for t, b, _, votes in east:
        rows += [f"{t},{b},Mayor,1,Candidate {i},{v}" for i, v in enumerate(votes)]
        rows += [f"{t},{b},Council,4,Candidate {i},{v // 2}" for i, v in enumerate(votes)]
    tallies.write_text("\n".join(rows) + "\n")
    return manifest, tallies

"""Small hand-built Arlo audit reports and Clarity results files whose right answers are known."""

from __future__ import annotations

from pathlib import Path

ARLO = """\
######## ELECTION INFO ########
Organization,Election Name,State
State of Testland,2020 General,TL

######## CONTESTS ########
Contest Name,Targeted?,Number of Winners,Votes Allowed,Total Ballots Cast,Tabulated Votes
Governor,Targeted,1,1,200,Ann Smith: 110; Bob Jones: 80; Blank/Undervote: 0

######## AUDIT SETTINGS ########
Audit Name,Audit Type,Audit Math Type,Risk Limit,Random Seed,Online Data Entry?
Test audit,BALLOT_POLLING,BRAVO,10%,12345,No

######## ROUNDS ########
Round Number,Contest Name,Targeted?,Sample Size,Risk Limit Met?,P-Value,Start Time,End Time,Audited Votes
1,Governor,Targeted,200,Yes,0,2020-11-13T14:06:04,2020-11-19T22:25:48,Ann Smith: 112; Bob Jones: 79; Blank/Undervote: 9

######## BATCH RESULTS ########
Jurisdiction Name,Batch Name,Batch Type,Ann Smith,Bob Jones,Blank/Undervote
NORTH,1,Election Day,30,20,2
NORTH,2,Absentee By Mail,25,15,1
NORTH,2 ,Absentee By Mail,1,0,0
SOUTH,1,Advance,40,30,4
SOUTH,UOCAVA 1,Other,16,14,2
"""

# The machine count: North's mail row differs by one vote from the paper; South has an
# "Other" batch in the hand count, so only its county total is comparable.
CLARITY = """\
<?xml version="1.0"?>
<ElectionResult>
  <Timestamp>11/20/2020 3:37:06 PM EST</Timestamp>
  <ElectionName>2020 General</ElectionName>
  <ElectionDate>11/3/2020</ElectionDate>
  <Region>TL</Region>
  <ElectionVoterTurnout>
    <Counties>
      <County name="North" precinctsParticipating="2" precinctsReported="2" />
      <County name="South" precinctsParticipating="3" precinctsReported="3" />
    </Counties>
  </ElectionVoterTurnout>
  <Contest key="100" text="Governor" voteFor="1" isQuestion="false">
    <Choice key="1" text="Ann Smith (I) (Rep)" party="REP" totalVotes="110">
      <VoteType name="Election Day Votes" votes="30"><County name="North" votes="30"/><County name="South" votes="0"/></VoteType>
      <VoteType name="Absentee by Mail Votes" votes="25"><County name="North" votes="25"/><County name="South" votes="0"/></VoteType>
      <VoteType name="Advanced Voting Votes" votes="55"><County name="North" votes="0"/><County name="South" votes="55"/></VoteType>
    </Choice>
    <Choice key="2" text="Bob Jones (Dem)" party="DEM" totalVotes="80">
      <VoteType name="Election Day Votes" votes="20"><County name="North" votes="20"/><County name="South" votes="0"/></VoteType>
      <VoteType name="Absentee by Mail Votes" votes="16"><County name="North" votes="16"/><County name="South" votes="0"/></VoteType>
      <VoteType name="Advanced Voting Votes" votes="44"><County name="North" votes="0"/><County name="South" votes="44"/></VoteType>
    </Choice>
  </Contest>
</ElectionResult>
"""


def write(folder: Path, arlo: str = ARLO, clarity: str = CLARITY) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a, c = folder / "arlo.csv", folder / "clarity.xml"
    a.write_text(arlo, encoding="utf-8")
    c.write_text(clarity, encoding="utf-8")
    return a, c

"""The values the in-browser proof check must reach, held against the library here (the
browser test holds static/proof.js to the same values)."""

from __future__ import annotations

from pathlib import Path

from tallyproof.ledger.checkpoint import parse
from tallyproof.ledger.keys import load_verifier
from tallyproof.ledger.merkle import verify_inclusion
from tallyproof.state.statelog import LOG_KEY, log_dir, prove_ballot

from .proof_vectors import expected_steps, inclusion_vectors


def test_inclusion_vectors_verify_and_a_changed_hash_or_index_does_not() -> None:
    vectors = inclusion_vectors()
    assert len(vectors) == sum(range(1, 14))
    for v in vectors:
        path = [bytes.fromhex(p) for p in v["path"]]
        leaf, root = bytes.fromhex(v["leaf"]), bytes.fromhex(v["root"])
        assert verify_inclusion(v["index"], v["size"], leaf, path, root)
        if v["size"] > 1:
            assert not verify_inclusion((v["index"] + 1) % v["size"], v["size"], leaf, path, root)
            bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
            assert not verify_inclusion(v["index"], v["size"], leaf, bad, root)


def test_expected_steps_of_a_real_ballot_end_at_the_signed_roots(state_root: Path,
                                                                 a_ballot: str) -> None:
    proof = prove_ballot(state_root, "county-01", a_ballot)
    vkey = (log_dir(state_root) / LOG_KEY).read_text()
    steps = expected_steps(proof, vkey)
    county_cp = parse(proof["county_proof"]["checkpoint"]).checkpoint
    assert steps[2] == county_cp.root.hex() == proof["county_proof"]["root"]
    assert steps[3] == steps[4] == proof["state_root"]
    assert bytes.fromhex(steps[5]) == load_verifier(log_dir(state_root) / LOG_KEY).key_id

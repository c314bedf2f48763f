"""Expected values of the in-browser proof check (static/proof.js), computed in Python with
the library: RFC 9162 inclusion vectors for small trees, and for a real ballot the value each
step of the check shows. test_proof_vectors.py holds them against the library;
browser/test_browser.py holds proof.js to them."""

from __future__ import annotations

from typing import Any

from tallyproof.ledger.checkpoint import parse
from tallyproof.ledger.keys import key_hash, parse_vkey
from tallyproof.ledger.merkle import Tree, leaf_hash, root_from_inclusion_proof
from tallyproof.state.statelog import StateLeaf


def inclusion_vectors(max_size: int = 13) -> list[dict[str, Any]]:
    """Every (index, size) of trees of 1..max_size leaves: leaf hash, audit path, root."""
    out = []
    for size in range(1, max_size + 1):
        tree = Tree.from_leaves([leaf_hash(f"leaf {i}".encode()) for i in range(size)])
        for index in range(size):
            out.append({"index": index, "size": size, "leaf": tree.leaf(index).hex(),
                        "path": [p.hex() for p in tree.inclusion_proof(index, size)],
                        "root": tree.root(size).hex()})
    return out


def expected_steps(proof: dict[str, Any], state_vkey: str) -> list[str]:
    """The value proof.js shows beside each step of a proof that verifies: (none), the county
    key's id, the county root the audit path leads to, the state root the state path leads
    to, the state root on the page, the state key's id."""
    cpf = proof["county_proof"]
    leaf = StateLeaf.decode(bytes.fromhex(proof["state_leaf_data"]))
    county_key = parse_vkey(leaf.vkey)
    county_root = root_from_inclusion_proof(cpf["leaf_index"], cpf["tree_size"],
                                            bytes.fromhex(cpf["leaf_hash"]),
                                            [bytes.fromhex(p) for p in cpf["audit_path"]])
    state_root = root_from_inclusion_proof(
        proof["state_leaf_index"], proof["state_tree_size"],
        leaf_hash(bytes.fromhex(proof["state_leaf_data"])),
        [bytes.fromhex(p) for p in proof["state_audit_path"]])
    assert county_root is not None and state_root is not None
    state_key = parse_vkey(state_vkey)
    return ["", key_hash(county_key.name, county_key.public_key).hex(), county_root.hex(),
            state_root.hex(), parse(proof["state_checkpoint"]).checkpoint.root.hex(),
            key_hash(state_key.name, state_key.public_key).hex()]

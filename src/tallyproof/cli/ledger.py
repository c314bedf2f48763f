"""``tallyproof keys new``, ``commit``, ``prove``, ``consistency``, ``cosign``: the
commitment log (tallyproof.ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .common import emit_json, err, out, open_store

StoreOpt = Annotated[Path, typer.Option("--store", help="election store folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Signing keys for checkpoints.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("new")
    def keys_new(
        out_path: Annotated[Path, typer.Option("--out", help="private key file to create")],
        name: Annotated[str | None, typer.Option("--name", help="signer name (default: file name)")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Create an Ed25519 key pair: KEY (private, mode 0600) and KEY.pub."""
        from ..ledger.keys import new_keypair

        private, public = new_keypair(out_path, name)
        vkey = public.read_text().strip()
        if json:
            emit_json({"private_key": str(private), "public_key": str(public), "vkey": vkey})
        else:
            out.print(f"wrote {private} (private, 0600) and {public}")
            out.print(f"public key: {vkey}", highlight=False)

    @app.command("commit")
    def commit_cmd(
        store: StoreOpt,
        key: Annotated[Path, typer.Option("--key", help="private key of the log signer")],
        supersede: Annotated[list[str] | None, typer.Option(
            "--supersede", help="ballot id whose corrected row replaces its committed one")] = None,
        reason: Annotated[str | None, typer.Option("--reason", help="why (with --supersede)")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Commit every CVR not yet in the log and sign a new checkpoint (idempotent)."""
        from ..ledger import commit_store

        if supersede and not reason:
            raise UsageError("--supersede needs --reason")
        corrections = {b: reason or "" for b in supersede or []}
        res = commit_store(open_store(store), key, corrections)
        if json:
            emit_json({
                "committed": res.committed,
                "tree_size": res.tree_size,
                "root": res.root,
                "cards_added": res.cards_added,
                "supersedes": res.supersedes,
                "batch_records": res.batch_records,
                "definition_added": res.definition_added,
                "results_snapshots": res.snapshots,
                "checkpoint": res.checkpoint,
                "checkpoint_path": str(res.checkpoint_path) if res.checkpoint_path else None,
            })
        elif res.committed:
            out.print(
                f"committed {res.cards_added:,} CVR(s), {res.supersedes} correction(s), "
                f"{res.batch_records} batch record(s), {res.snapshots} results snapshot(s); "
                f"tree size {res.tree_size:,}, "
                f"root {res.root}", highlight=False,
            )
            err.print(f"checkpoint written to {res.checkpoint_path}")
        else:
            out.print(f"nothing new to commit; tree size {res.tree_size:,}, root {res.root}",
                      highlight=False)

    @app.command("prove")
    def prove_cmd(
        store: StoreOpt,
        ballot_id: Annotated[str, typer.Argument(help="ballot id to prove")],
        with_data: Annotated[bool, typer.Option(
            "--with-data", help="also print the salt and leaf bytes (secret until publication)"
        )] = False,
        json: JsonOpt = False,
    ) -> None:
        """Inclusion proof of a ballot's leaf in the latest signed checkpoint."""
        from ..ledger import prove

        res = prove(open_store(store), ballot_id, with_data=with_data)
        if json:
            emit_json(res)
            return
        out.print(f"ballot {ballot_id}: leaf {res['leaf_index']} of {res['tree_size']:,}, "
                  f"leaf hash {res['leaf_hash']}", highlight=False)
        for i, h in enumerate(res["audit_path"]):  # type: ignore[arg-type]
            out.print(f"  path[{i}] {h}", highlight=False)
        out.print(f"root {res['root']}", highlight=False)

    @app.command("consistency")
    def consistency_cmd(
        store: StoreOpt,
        old_size: Annotated[int, typer.Option("--old-size", help="earlier tree size")],
        json: JsonOpt = False,
    ) -> None:
        """Consistency proof from an earlier tree size to the latest checkpoint."""
        from ..ledger import consistency

        res = consistency(open_store(store), old_size)
        if json:
            emit_json(res)
            return
        out.print(f"tree {res['old_size']:,} ({res['old_root']}) is a prefix of tree "
                  f"{res['new_size']:,} ({res['new_root']})", highlight=False)
        for i, h in enumerate(res["proof"]):  # type: ignore[arg-type]
            out.print(f"  proof[{i}] {h}", highlight=False)

    @app.command("cosign")
    def cosign_cmd(
        store: StoreOpt,
        key: Annotated[Path, typer.Option("--key", help="the co-signer's private key")],
        json: JsonOpt = False,
    ) -> None:
        """Add a co-signature (e.g. a state office, an observer) to the latest checkpoint."""
        from ..ledger import cosign_latest

        text = cosign_latest(open_store(store), key)
        if json:
            emit_json({"checkpoint": text})
        else:
            out.print(text, highlight=False, end="")

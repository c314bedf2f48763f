from tallyproof.cli import main


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "ingest" in capsys.readouterr().out


def test_unknown_command_is_usage_error():
    assert main(["no-such-command"]) == 2


def test_typer_exit_code_is_returned():
    import typer

    from tallyproof.cli import app

    @app.command("_exit-test", hidden=True)
    def _exit_test() -> None:
        raise typer.Exit(1)

    try:
        assert main(["_exit-test"]) == 1
    finally:
        app.registered_commands = [c for c in app.registered_commands if c.name != "_exit-test"]

import pytest

from cultureclip.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_every_listed_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        assert f"cultureclip {name}" in capsys.readouterr().out


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_make_tiny_models_command(tmp_path, capsys):
    assert main(["make-tiny-models", str(tmp_path), "--kinds", "clip"]) == 0
    assert (tmp_path / "clip" / "model.safetensors").is_file()
    assert not (tmp_path / "llm").exists()


def test_make_tiny_models_rejects_unknown_kind(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["make-tiny-models", str(tmp_path), "--kinds", "clip,audio"])
    assert "audio" in capsys.readouterr().err

import pytest

from cultureclip import resources


def test_checkout_files_are_found_in_place():
    assert resources.project_file("dataset_card.md") == resources.CHECKOUT / "dataset_card.md"
    assert resources.project_file("configs/tiny.yaml").is_file()


def test_installed_copies_are_the_fallback(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setattr(resources, "INSTALLED", tmp_path)
    assert resources.project_file("configs/tiny.yaml") == tmp_path / "configs" / "tiny.yaml"
    with pytest.raises(FileNotFoundError, match="model_card.md is neither in the checkout"):
        resources.project_file("model_card.md")

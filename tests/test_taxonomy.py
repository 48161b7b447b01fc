import pytest

from cultureclip.dataset_builder.records import CATEGORIES
from cultureclip.dataset_builder.taxonomy import countries, country_region, taxonomy


def test_every_iso_country_has_a_region():
    everything = countries()
    assert len(everything) >= 249
    assert {c.region for c in everything} >= {"Africa", "Asia", "Europe", "Oceania"}
    assert country_region("jp") == "Asia" and country_region("PL") == "Europe"


def test_selection_by_country_region_and_category():
    cells = taxonomy(codes=["CN", "PL", "BR"], regions=["Asia", "Europe"], categories=["Art", "Cuisine"])
    assert [(c.country.code, c.category) for c in cells] == [
        ("CN", "Cuisine"),
        ("CN", "Art"),
        ("PL", "Cuisine"),
        ("PL", "Art"),
    ]
    assert len(taxonomy()) == len(countries()) * len(CATEGORIES)
    assert all(cell.description for cell in taxonomy(codes=["KE"]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"codes": ["XX"]}, "Unknown country code 'XX'"),
        ({"regions": ["Atlantis"]}, "Unknown region"),
        ({"categories": ["Food"]}, "Unknown categories \\['Food'\\]"),
    ],
)
def test_bad_selection(kwargs, message):
    with pytest.raises(ValueError, match=message):
        taxonomy(**kwargs)

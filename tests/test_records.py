import pytest

from cultureclip.dataset_builder.records import Caption, Twin, read_records, record_path, to_json


def test_round_trip_and_torn_last_line(tmp_path):
    captions = [Caption("c1", "k1", 0, "a steamed bun"), Caption("c2", "k1", 1, "a folded dumpling")]
    path = record_path(tmp_path, Caption)
    path.write_text("".join(to_json(c) + "\n" for c in captions) + '{"caption_id": "c3", "conc')
    assert read_records(tmp_path, Caption) == captions
    assert read_records(tmp_path, Twin) == []


def test_bad_lines_name_file_and_line(tmp_path):
    path = record_path(tmp_path, Caption)
    path.write_text(to_json(Caption("c1", "k1", 0, "x")) + "\nnot json\n")
    with pytest.raises(ValueError, match=r"captions.jsonl:2 is not valid JSON"):
        read_records(tmp_path, Caption)
    path.write_text('{"caption_id": "c1"}\n')
    with pytest.raises(ValueError, match=r"captions.jsonl:1 has fields \['caption_id'\]"):
        read_records(tmp_path, Caption)

"""benchmarks/scale.py at a tiny size, so the script cannot rot (its figures are not asserted on speed)."""

from benchmarks import scale


def test_scale_benchmark_measures_each_size(capsys):
    results = scale.main(
        ["--sizes", "3,4", "--captions", "2", "--image-size", "16", "--batches", "1", "--batch-size", "2"]
    )
    assert [r["pairs"] for r in results] == [12, 16] and [r["images"] for r in results] == [12, 16]
    for result in results:
        assert result["build_peak_rss_mb"] > 0 and result["build_s"] > 0 and result["load_s"] > 0
        assert result["pairs_per_s_0_workers"] > 0 and result["pairs_per_s_2_workers"] > 0
        assert result["image_mb"] <= result["release_mb"]
        assert result["pixel_cache_s"] > 0 and result["pixel_cache_mb"] > 0
    printed = capsys.readouterr().out
    assert "| 4 | 16 | 16 |" in printed and "From 12 to 16 pair rows" in printed

"""Evaluation inputs that would give a meaningless score (issue 14, point 12)."""

import eval_datasets
import pytest

from cultureclip.evaluation import evaluate


def test_zero_shot_with_one_class_is_refused(tiny_models, tmp_path):
    one_class = eval_datasets.zeroshot_parquet(tmp_path / "one", classes=("cat",), rows=3)
    with pytest.raises(ValueError, match=r"at least two classes, got \['cat'\]"):
        evaluate(str(tiny_models["clip"]), "zeroshot", str(one_class), use_cache=False)

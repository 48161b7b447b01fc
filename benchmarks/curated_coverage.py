"""World coverage of the curated twin list: the figures the README quotes.

Concept slots (two per pair) per continent (`taxonomy.country_region`), the Middle East (West Asia
and North Africa), the largest countries, and the slots per continent and category.

    python benchmarks/curated_coverage.py [PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> None:
    from cultureclip.dataset_builder.curated import coverage, load_curated
    from cultureclip.dataset_builder.records import CATEGORIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="a curated twin list (default: the shipped one)")
    twins = load_curated(parser.parse_args(argv).path)
    stats = coverage(twins)
    groups = {t.group for t in twins if t.group}
    print(f"{stats['pairs']} pairs, {stats['slots']} concept slots, {stats['countries']} countries, "
          f"{len(groups)} split groups of overlapping lines")  # fmt: skip
    shares = ", ".join(f"{region} {share:.1%}" for region, share in stats["regions"].items())
    print(f"slots by continent: {shares}; Middle East {stats['middle_east']:.1%}")
    print("largest countries: " + ", ".join(f"{code} {share:.1%}" for code, share in stats["top_countries"].items()))
    print()
    print("| continent | " + " | ".join(CATEGORIES) + " |")
    print("|---" * (len(CATEGORIES) + 1) + "|")
    for region, cells in stats["cells"].items():
        print(f"| {region} | " + " | ".join(str(count) for count in cells.values()) + " |")


if __name__ == "__main__":
    main()

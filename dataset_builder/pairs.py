"""Stage 8: caption pairs. Every caption of a concept with every caption of its twin
(or ``captions.pairs_per_twin`` of them, sampled with the twin's own seed); a pair is kept only
when both images passed the quality filter.

A pair's verdict is final (a kept or rejected pair counts as done on resume), so the stage runs only
once the quality stage has judged every image it pairs: scored it, or rejected it.
"""

from __future__ import annotations

import random
from collections import defaultdict

from .pipeline import StageContext, StageResult, process
from .records import Caption, Pair, QualityScore, Twin, read_records
from .run_folder import item_seed, rejected_ids
from .structured import Outcome


def candidate_pairs(twin: Twin, pos: list[str], neg: list[str], sample: int | None, seed: int) -> list[Pair]:
    """All ``pos`` x ``neg`` caption pairs of a twin, or a seeded sample of ``sample`` of them."""
    combos = [(p, n) for p in sorted(pos) for n in sorted(neg)]
    if sample is not None and sample < len(combos):
        combos = sorted(random.Random(item_seed(seed, "pairs", twin.twin_id)).sample(combos, sample))
    return [Pair(f"{p}--{n}", twin.twin_id, p, n) for p, n in combos]


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    by_concept = defaultdict(list)
    for caption in read_records(ctx.run_dir, Caption):
        by_concept[caption.concept_id].append(caption.caption_id)
    verdict = {s.caption_id: s.passed for s in read_records(ctx.run_dir, QualityScore)}
    pairs = [
        pair
        for twin in read_records(ctx.run_dir, Twin)
        for pair in candidate_pairs(
            twin,
            by_concept[twin.pos_concept_id],
            by_concept[twin.neg_concept_id],
            config.captions.pairs_per_twin,
            config.seed,
        )
    ]

    unjudged = sorted(
        {c for p in pairs for c in (p.pos_caption_id, p.neg_caption_id)}
        - set(verdict)
        - rejected_ids(ctx.run_dir, "quality")
    )
    if unjudged:
        raise ValueError(
            f"the pairs stage needs a quality verdict for every image, but {len(unjudged)} caption(s) have none "
            f"yet (e.g. {unjudged[0]}); run the quality stage first: rerun without --stages, or with "
            "--stages images,quality,pairs."
        )

    def judge(caption_id: str) -> str | None:
        if caption_id not in verdict:
            return "no-quality-score"
        return None if verdict[caption_id] else "failed-quality"

    def handle(batch: list[Pair]) -> list[Outcome]:
        outcomes = []
        for pair in batch:
            problems = {side: judge(cid) for side, cid in (("pos", pair.pos_caption_id), ("neg", pair.neg_caption_id))}
            bad = {side: reason for side, reason in problems.items() if reason}
            if bad:
                reason = sorted(set(bad.values()))[0]
                detail = ", ".join(f"{side} image: {why}" for side, why in bad.items())
                outcomes.append(Outcome(pair.pair_id, rejected=reason, detail=detail))
            else:
                outcomes.append(Outcome(pair.pair_id, records=[pair]))
        return outcomes

    done = {p.pair_id for p in read_records(ctx.run_dir, Pair)}
    return process(ctx, "pairs", pairs, lambda p: p.pair_id, handle, 1024, done)

"""TwinWorld: a procedurally rendered world of cultural twins where CultureCLIP's claim can be
tested end to end on a CPU (``python -m benchmarks.twinworld --output-dir DIR``; see README.md).

Modules: `world` (kinds, cultures, concepts, twins, texts), `render` (images), `samples` (seeded
image streams), `run_folder` (a CulTwin generation run folder), `data` (the releases and the
general task), `pretrain` (the base CLIP), `experiment` (fine-tune and score every variant),
`report` (table and plot).
"""

"""CulTwin: the data pipeline (taxonomy, concepts, twins, captions, images, quality filter) and
the ``datasets`` builder of the released dataset."""

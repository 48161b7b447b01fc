"""Training CultureCLIP: the config, the CulTwin collator and the ``transformers.Trainer`` subclass."""

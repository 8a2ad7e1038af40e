"""The volunteer kit: scaffold, record, replay, examples, checks, quality scale, fuzz, docs."""

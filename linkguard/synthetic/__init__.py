"""Synthetic data: the sample registry and business records (:mod:`.sample`) and the demo that runs them
through a real local pipeline (:mod:`.demo`)."""

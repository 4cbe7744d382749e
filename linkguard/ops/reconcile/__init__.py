"""Reconcile (点検B): :mod:`.compare` compares the sink's copies with a business-system extract,
:mod:`.store` reads the copies from the sink database, :mod:`.output` writes the table, CSV and HTML."""

"""Operations: batch inspection and its reports, reconcile (点検B), metrics and the lag view.

The commands that drive these are in :mod:`linkguard.cli`; dead letters are handled by ``linkguard dlq``.
"""

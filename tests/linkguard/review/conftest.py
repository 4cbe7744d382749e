"""The review fixtures (tests/fixtures/review.py): a real sink database, accounts, users and a review service."""

from fixtures.review import _hasher, accounts, service, users  # noqa: F401  (fixtures, used by name)

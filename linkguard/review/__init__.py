"""The reviewers' work on held records: accounts, masking, the review service and its CLI."""

"""The reviewers' and operators' web screen (FastAPI, server-rendered Jinja2, no build step).

Security decisions, in one place:

- **Accounts and roles** come from :mod:`linkguard.review.accounts` (argon2).
  The session (a signed cookie, ``SessionMiddleware``) holds only the user
  name, the log-in time, a CSRF token and the language; it ends
  ``LINKGUARD_WEB_SESSION_HOURS`` after log-in; the account is re-read on every
  request, so a deactivation or a role change applies at once.
- **CSRF**: every session has a random token; every POST form carries it and
  every POST handler checks it (constant-time) before anything else.
- **No personal data in URLs**: record pages are addressed by an opaque,
  authenticated handle (:mod:`linkguard.web.handles`), never by
  ``system``/``record_id``, never by a My Number. Queue filters (process and
  reason codes, age, a staff user name) are not personal data.
- **Masking**: numbers arrive masked from the review service; the full
  number is shown only after a *reveal* POST, which the service audits.
- **Operators** see dashboards only: every page with personal data requires
  the reviewer or approver role (an operator gets 403).
- Every response carries a strict Content-Security-Policy (no inline script or
  style), ``no-store`` caching, and no referrer.
"""

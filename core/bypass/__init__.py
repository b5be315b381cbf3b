"""Emergency bypasses: narrowly scoped, approved by someone else, expiring by themselves.

- model.py: states (requested -> approved/denied/lapsed, approved -> active -> expired/revoked), scope.
- validation.py: digest only (no tags, globs, "all"), exact names, meaningful justification, ticket
  pattern, duration capped by `[policy] max_bypass_duration` (config only).
- service.py: request/approve/deny/revoke.
- coverage.py: the rule, `active_bypass_for` (does an active bypass cover digest D at place P, now?
  never honours a bypass at or past its end) and `standing_at` (a verdict as reported there: not
  verified + covered = `bypassed`), used by the sweep, the Lambda listing, the release gate and the reaper.
- kyverno_exception.py / cluster_exceptions.py: the kyverno.io/v2 PolicyException for cluster scope,
  created on activation and deleted on revoke/expiry.
- reaper.py: records due expiries, retries pending exceptions, deletes stale ones, reports foreign
  ones and workloads still running a digest whose bypass ended.

Cluster unreachable at approval: the approval stands (state `approved`, exception pending, a
warning returned and audited); Signet honours the bypass for its window, the cluster keeps
enforcing until `reap` creates the exception. Revoke/expiry commit first (Signet stops honouring at
once) and delete the exception afterwards; a failed delete is a warning, and the TTL label plus the
next reap remove it.
"""

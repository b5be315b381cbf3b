"""`signet key ...`: key custody — generate, import, export, list, back up, restore, rotate.

KEY is a key id, name or fingerprint prefix. A key's passphrase comes from `--passphrase-file`, else
`$SIGNET_PASSWORD`, else a hidden prompt (with confirmation when it protects a new key). A backup's
passphrase comes from `--backup-passphrase-file` or a prompt; shares from `--share-file` (one share
per line) or hidden prompts. Secrets are never printed, except the shares of a new backup, printed
once to stdout by `key backup` / `key rotate start`: hand each to its custodian.

The re-sign step (`rotate next` / `rotate resume` there) first prints its plan: the in-use images that
verify under the old key (their signature is carried over to the new key) and those that do not (never
signed), then asks; `--yes` answers for scripts. A prompt no one can answer is exit 2.

JSON (`--json`):
  key list        [{id, name, fingerprint, algorithm, location, location_ref, state, created_at,
                    activated_at, retired_at, revoked_at, custodians, trusted_by, backup_status,
                    drill_overdue, backups: [{id, key_id, scheme, threshold, share_count, location,
                    custodians: [{index, name}], created_at, last_tested_at, last_test_result,
                    drill_due_at, drill_overdue}]}]
  generate/import one key object (fields of `key list` without the backup fields)
  backup          {backup: <backup object>, path, shares: [{index, custodian, mnemonic}]}
  backup test     {backup_id, fingerprint, ok, reason, tested_at}
  backup list     [<backup object>] (the `backups` entries of `key list`)
  rotate ...      RotationStatus.as_dict(): {id, old_key, new_key, step, status, started_at, updated_at,
                    coverage, next_action, details}; `rotate start` and `rotate resume` add `shares`
                    (the new key's backup shares; empty for a passphrase backup or a KMS key); `status ROT`
                    and the step commands (start, next, resume, retire, revoke) add `config_change`: null,
                    or {file, field, removed, added, before_sha256, diff, applied} (applied: written with
                    --update-config; else the [trust] keys change still needed)
  rotate config   null or {file, field, removed, added, before_sha256, diff, applied}
Exit codes: 0 done, 1 rotation blocked at the soak step (coverage below the minimum), 2 usage/input/
state errors, 3 an outside system (registry, AWS, cluster, disk) failed.
  rotate revoke --emergency   EmergencyRevocation.as_dict() (`still_trusted_in`: [{file, field,
                    names_successor, problem, message}])
"""

from __future__ import annotations

import click

from tui.cli.commands.key import backup, inventory, rotation


@click.group("key")
def command() -> None:
    """Key custody: cosign-compatible keys, backups with custodian shares, rotation."""


for _sub in (*inventory.COMMANDS, *backup.COMMANDS, rotation.rotate):
    command.add_command(_sub)

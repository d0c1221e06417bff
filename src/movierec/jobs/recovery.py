"""Recovery from refreshes whose process died: their job locks and their ``running`` rows.

A job lock (``{p}:lock:{job}``, holder ``host:pid:token``) outlives a killed holder by up to its
TTL (60 s), and a killed recommendations refresh never records an outcome in ``model_runs``.
The scheduler calls ``recover`` at start and on every watchdog tick:

* a lock whose holder ran on this host under a PID that no longer exists is released at once
  (at start, a holder with this very PID is a predecessor too: a restarted container often
  gets the PID its last process had). A holder on another host cannot be checked from here;
  its lock expires by itself. This relies on hosts having distinct names (the default for
  containers);
* while no process holds the recommendations lock, every run still ``running`` that started
  more than a lock TTL ago is marked ``abandoned``: a live refresh holds the lock for its whole
  run, from before its row is written. (A run that lost its lock while alive, say to a Redis
  restarted empty, and finishes after all, records its outcome over the mark.)
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from movierec.cache import CacheStore
from movierec.cache.locks import LOCK_TTL_SECONDS
from movierec.db import Database
from movierec.db.repositories import model_runs
from movierec.jobs.refresh import RECOMMENDATIONS_JOB, STATISTICS_JOB

log = logging.getLogger(__name__)

JOBS = (RECOMMENDATIONS_JOB, STATISTICS_JOB)


def holder_is_dead(holder: str, *, own_pid_is_dead: bool = False) -> bool:
    """Whether the process named by a lock holder (``host:pid:token``) is known to be gone.
    False when it cannot be told (another host, an unreadable holder)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return own_pid_is_dead
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False


def abandon_runs(db: Database, started_before: datetime, why: str) -> list[str]:
    """Mark ``abandoned`` the runs still ``running`` that started before ``started_before``."""
    with db.session() as session:
        versions = model_runs.abandon_runs(
            session, started_before, datetime.now(UTC), f"abandoned: {why}"
        )
    for version in versions:
        log.warning("recommendations run %s abandoned: %s", version, why)
    return versions


def recover(
    db: Database, cache: CacheStore, *, at_start: bool = False, running: Collection[str] = ()
) -> None:
    """Mark the runs of dead processes abandoned and release dead holders' locks.

    ``at_start``: this process holds no lock yet, so one under its own PID is a predecessor's.
    ``running``: the jobs this process runs now (alive even if their lock was lost).
    """
    for job in JOBS:
        observed = datetime.now(UTC)
        holder = cache.lock_holder(job)
        if holder is not None and not holder_is_dead(holder, own_pid_is_dead=at_start):
            continue  # alive, or on another host: its lock expires by itself if it is dead
        if job == RECOMMENDATIONS_JOB and job not in running:
            if holder is None:
                # Nobody holds the lock: any run older than the lock TTL is dead (the margin
                # covers clocks that differ between hosts and a run about to take the lock).
                abandon_runs(
                    db,
                    observed - timedelta(seconds=LOCK_TTL_SECONDS),
                    "its process ended without recording an outcome and holds no lock",
                )
            else:
                # Marked while the dead holder's lock still keeps new runs from starting.
                abandon_runs(db, observed, f"its process {holder} is dead")
        if holder is not None and cache.break_lock(job, holder):
            log.warning("%s lock: holder %s is dead; lock released", job, holder)

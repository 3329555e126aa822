"""Several instances on one registry: which one works each IMAP mailbox and runs each scheduled
job, and which instances are alive.

Decides who holds what. A lease (`mailbox:NAME`, `job:NAME`) is held until `expires_at`; its
holder renews it every `HEARTBEAT` seconds for `TTL` more, and any instance may take one that has
expired, so the work of an instance that died moves to another within TTL + HEARTBEAT (40 s). A
holder on this same host whose process is gone is taken over at once (a restart does not wait for
its own old lease). Taking and renewing are one conditional UPDATE each, so two instances never
both hold a lease. Each heartbeat also says the instance is alive (`Instance.seen_at`); an
instance that stops cleanly gives its leases up and removes itself.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .writer import unit_of_work
from .models import Instance, Lease, as_utc, utcnow

TTL = 30.0
HEARTBEAT = 10.0


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def dead_here(holder: str) -> bool:
    """HOLDER ran on this host in a process that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def heartbeat(engine, me: str, wanted: list[str], now: datetime | None = None) -> set[str]:
    """Say ME is alive, renew what it holds and take what it wants that is free; return what it holds."""
    now = now or utcnow()
    until = now + timedelta(seconds=TTL)
    with unit_of_work(engine) as session:
        conn = session.connection()
        seen = conn.execute(update(Instance).where(Instance.id == me).values(seen_at=now)).rowcount
        if not seen:
            host, pid = me.split(":")[:2]
            conn.execute(insert(Instance).values(id=me, host=host, pid=int(pid), started_at=now, seen_at=now))
        holders = dict(conn.execute(select(Lease.name, Lease.holder).where(Lease.name.in_(wanted))).all())
        dead = sorted({h for h in holders.values() if h != me and dead_here(h)})
        held = set()
        for name in wanted:
            if name not in holders:
                try:
                    with session.begin_nested():
                        conn.execute(insert(Lease).values(name=name, holder=me, acquired_at=now, expires_at=until))
                    held.add(name)
                except IntegrityError:
                    pass  # another instance took it first
                continue
            taken = conn.execute(update(Lease).where(
                Lease.name == name, or_(Lease.holder == me, Lease.expires_at < now, Lease.holder.in_(dead)))
                .values(expires_at=until, acquired_at=now if holders[name] != me else Lease.acquired_at,
                        holder=me)).rowcount
            if taken:
                held.add(name)
        if dead:
            conn.execute(delete(Instance).where(Instance.id.in_(dead)))
    return held


def live_ids(conn, now: datetime) -> set[str]:
    """The instances whose heartbeat was seen within TTL."""
    since = now - timedelta(seconds=TTL)
    return {pk for (pk,) in conn.execute(select(Instance.id).where(Instance.seen_at >= since))}


def release(engine, me: str) -> None:
    """ME stops: its leases are free now, and it is no longer listed."""
    with unit_of_work(engine) as session:
        conn = session.connection()
        conn.execute(delete(Lease).where(Lease.holder == me))
        conn.execute(delete(Instance).where(Instance.id == me))


def live(engine, now: datetime | None = None) -> list[dict]:
    """The instances seen within TTL, each with the leases it holds now (for `stats --json`)."""
    now = now or utcnow()
    since = now - timedelta(seconds=TTL)
    with engine.connect() as conn:
        instances = conn.execute(select(Instance).where(Instance.seen_at >= since).order_by(Instance.started_at)).all()
        leases = conn.execute(select(Lease.holder, Lease.name).where(Lease.expires_at >= now).order_by(Lease.name)).all()
    holds: dict[str, list[str]] = {}
    for holder, name in leases:
        holds.setdefault(holder, []).append(name)
    return [{"id": i.id, "host": i.host, "pid": i.pid, "started_at": as_utc(i.started_at).isoformat(),
             "seen_at": as_utc(i.seen_at).isoformat(), "holds": holds.get(i.id, [])} for i in instances]

"""Escalation (SPEC §11): a destination's reminders and escalation of an ongoing, unacknowledged
event, on its schedule, stopped by acknowledging or closing, fired once by one of several
processes, surviving a restart.

Time is a fake clock the dispatchers are given: no test sleeps for a schedule. Each test has a
workspace of its own, and its destinations are made with their lease already held by the
test's dispatcher (the shared server's own dispatcher never takes them); the test's dispatcher
renews it by scanning, on the fake clock, which runs ahead of the real one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from eventgate.delivery.dispatcher import Dispatcher, DispatchSettings
from eventgate.delivery.outbound_http import AddressPolicy
from eventgate.domain.destinations import parse_filter
from eventgate.domain.times import now_ms
from eventgate.store.destinations import (
    Destination,
    create_destination,
    delete_destination,
    due_timers,
    list_attempts,
    list_timers,
    take_lease,
)
from tests.helpers import error_code
from tests.live_client import close, create

MINUTE = 60_000
HOUR = 60 * MINUTE
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"




@dataclass
class Scene:
    """A workspace with a channel, and dispatchers on a fake clock over the server's database."""

    server: Any
    workspace_id: str
    channel: str
    fake_now: list[int] = field(default_factory=lambda: [now_ms()])
    dispatchers: list[Dispatcher] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)

    def dispatcher(self) -> Dispatcher:
        made = Dispatcher(self.server.database, DispatchSettings(
            policy=AddressPolicy.from_settings(True, None), clock=lambda: self.fake_now[0], lease_seconds=3600))
        self.dispatchers.append(made)
        return made

    def destination(self, owner: Dispatcher, url: str, secret: str = SECRET, **schedule: Any) -> Destination:
        """A webhook destination whose lease `owner` holds from the start."""
        with self.server.database.writer.begin() as connection:
            made = create_destination(connection, self.workspace_id, name="escalation", kind="webhook", url=url,
                                      filter=parse_filter(None), secret=secret, **schedule)
            assert take_lease(connection, made.id, owner.owner, now_ms() + HOUR, now_ms())
        self.destinations.append(made.id)
        return made

    def timer_list(self, destination_id: str) -> list[Any]:
        with self.server.database.reader.connect() as connection:
            return list_timers(connection, destination_id)

    def timers(self, destination_id: str) -> dict[str, Any]:
        """The timers of the destination's one event, by kind."""
        return {timer.kind: timer for timer in self.timer_list(destination_id)}

    async def armed(self, destination_id: str, count: int = 2) -> dict[str, Any]:
        """The destination's timers once its dispatcher has handled the events' creation."""
        deadline = time.monotonic() + 15
        while len(found := self.timer_list(destination_id)) < count:
            assert time.monotonic() < deadline, f"armed: {found}"
            await asyncio.sleep(0.05)
        return {timer.kind: timer for timer in found}

    async def finish(self) -> None:
        with self.server.database.writer.begin() as connection:
            for destination_id in self.destinations:
                delete_destination(connection, destination_id)
        for dispatcher in self.dispatchers:
            await dispatcher.stop()


@pytest.fixture
def scene(server):
    workspace_id = server.create_workspace()
    return Scene(server, workspace_id, server.create_channel(workspace_id=workspace_id))


async def of_type(receiver, kind: str, count: int | None = None, path: str = "") -> list[Any]:
    """The receiver's requests of this webhook type (waiting, bounded, until there are `count`),
    letting the test's dispatchers run meanwhile."""
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in receiver.requests() if r.json()["type"] == kind and r.path.endswith(path)]
        if count is None or len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


def run(scene: Scene, scenario: Any) -> None:
    async def main() -> None:
        try:
            await scenario()
        finally:
            await scene.finish()
    asyncio.run(main())


def test_reminders_repeat_on_schedule_and_the_escalation_goes_once_to_the_other_destination(scene, receiver):
    async def scenario() -> None:
        dispatcher = scene.dispatcher()
        pager = scene.destination(dispatcher, receiver.url + "/pager", OTHER_SECRET)
        ops = scene.destination(dispatcher, receiver.url + "/ops", repeat_every_s=60, escalate_after_s=150,
                                escalate_to=pager.id)
        await dispatcher.scan()
        event_id = create(scene.server.client(), scene.channel, title="Disk full", severity="high")
        timers = await scene.armed(ops.id)
        created = await of_type(receiver, "event.created", 2)
        received_at = timers["repeat"].due_at - MINUTE
        assert timers["escalate"].due_at == received_at + 150_000 and len(created) == 2
        assert scene.timers(pager.id) == {}  # pager has no schedule of its own

        scene.fake_now[0] = received_at + MINUTE - 1
        assert await dispatcher.fire_timers() == 0
        scene.fake_now[0] = received_at + MINUTE
        assert await dispatcher.fire_timers() == 1
        [first] = await of_type(receiver, "event.reminder", 1)
        body = Webhook(SECRET).verify(first.body, first.headers)
        assert first.path.endswith("/ops") and first.headers["webhook-id"] == f"msg_{ops.id}_{event_id}_repeat_1"
        assert body["data"]["event"]["id"] == event_id and body["data"]["destination"] == ops.id
        assert body["data"]["fired"] == 1 and body["data"]["event"]["state"] == "ongoing"

        scene.fake_now[0] = received_at + 2 * MINUTE - 1
        assert await dispatcher.fire_timers() == 0
        scene.fake_now[0] = received_at + 2 * MINUTE
        await dispatcher.scan()  # a scan fires due timers as well
        reminders = await of_type(receiver, "event.reminder", 2)
        assert [Webhook(SECRET).verify(r.body, r.headers)["data"]["fired"] for r in reminders] == [1, 2]
        assert await of_type(receiver, "event.escalated") == []

        scene.fake_now[0] = received_at + 150_000
        assert await dispatcher.fire_timers() == 1
        [escalated] = await of_type(receiver, "event.escalated", 1)
        body = Webhook(OTHER_SECRET).verify(escalated.body, escalated.headers)  # signed with the target's secret
        assert escalated.path.endswith("/pager") and body["data"]["destination"] == ops.id
        assert escalated.headers["webhook-id"] == f"msg_{pager.id}_{event_id}_escalate_1"
        assert set(scene.timers(ops.id)) == {"repeat"}

        scene.fake_now[0] = received_at + 10 * MINUTE  # escalation fired once; a late repeat fires once
        assert await dispatcher.fire_timers() == 1
        assert await dispatcher.fire_timers() == 0
        assert len(await of_type(receiver, "event.reminder", 3)) == 3
        assert len(await of_type(receiver, "event.escalated")) == 1
        assert scene.timers(ops.id)["repeat"].due_at == received_at + 11 * MINUTE
        with scene.server.database.reader.connect() as connection:
            recorded = list_attempts(connection, ops.id) + list_attempts(connection, pager.id)
        escalations = sorted(a.webhook_id for a in recorded if a.seq is None)
        assert escalations == sorted([f"msg_{ops.id}_{event_id}_repeat_{n}" for n in (1, 2, 3)]
                                     + [f"msg_{pager.id}_{event_id}_escalate_1"])
        assert all(a.outcome == "delivered" and a.event_id == event_id for a in recorded)
    run(scene, scenario)


@pytest.mark.parametrize("action", ["acknowledge", "close"])
def test_acknowledging_or_closing_stops_reminders_and_escalation(scene, receiver, action):
    async def scenario() -> None:
        dispatcher = scene.dispatcher()
        pager = scene.destination(dispatcher, receiver.url + "/pager")
        ops = scene.destination(dispatcher, receiver.url + "/ops", repeat_every_s=60, escalate_after_s=60,
                                escalate_to=pager.id)
        await dispatcher.scan()
        client = scene.server.client()
        event_id = create(client, scene.channel, title="Door open")
        other = create(client, scene.channel, title="Window open")
        await scene.armed(ops.id, 4)
        if action == "acknowledge":
            writer = scene.server.client(headers={"Authorization": "Bearer " + scene.server.create_key(
                ("events:write",), workspace_id=scene.workspace_id)})
            assert writer.post(f"/events/{event_id}/acknowledge").status_code == 200
        else:
            close(client, scene.channel, event_id)
        scene.fake_now[0] += 2 * MINUTE
        assert await dispatcher.fire_timers() == 2  # only the other event's reminder and escalation
        sent = await of_type(receiver, "event.reminder", 1) + await of_type(receiver, "event.escalated", 1)
        assert {r.json()["data"]["event"]["id"] for r in sent} == {other} and len(sent) == 2
        assert [(t.event_id, t.kind) for t in scene.timer_list(ops.id)] == [(other, "repeat")]
    run(scene, scenario)


def test_of_two_processes_that_see_a_timer_due_only_one_fires_it(scene, receiver):
    async def scenario() -> None:
        holder, other = scene.dispatcher(), scene.dispatcher()
        ops = scene.destination(holder, receiver.url + "/ops", repeat_every_s=60)
        await holder.scan()
        create(scene.server.client(), scene.channel, title="Pump stopped")
        due_at = (await scene.armed(ops.id, 1))["repeat"].due_at
        await other.scan()  # the lease is held: the other process neither takes it nor fires its timers
        assert other.workers == {}
        for fired in (1, 2, 3):
            now = due_at + (fired - 1) * MINUTE
            scene.fake_now[0] = now
            with scene.server.database.reader.connect() as connection:
                [timer] = due_timers(connection, [ops.id], now)
            # Both read the timer due (as two processes around a change of lease would) and fire it at once.
            results = await asyncio.gather(holder.fire_timer(timer, now), other.fire_timer(timer, now),
                                           holder.fire_timers(now), other.fire_timers(now))
            assert sum(results) == 1
            reminders = await of_type(receiver, "event.reminder", fired)
            assert [r.json()["data"]["fired"] for r in reminders] == list(range(1, fired + 1))
        await asyncio.sleep(0.2)
        assert len(await of_type(receiver, "event.reminder")) == 3
    run(scene, scenario)


def test_timers_survive_a_restart(scene, receiver):
    async def scenario() -> None:
        before = scene.dispatcher()
        pager = scene.destination(before, receiver.url + "/pager", OTHER_SECRET)
        ops = scene.destination(before, receiver.url + "/ops", repeat_every_s=300, escalate_after_s=600,
                                escalate_to=pager.id)
        await before.scan()
        event_id = create(scene.server.client(), scene.channel, title="Freezer warm")
        await scene.armed(ops.id)
        # The process dies: its workers stop, its leases are left to run out.
        for worker in before.workers.values():
            await worker.stop()
        before.workers.clear()
        scene.fake_now[0] += 2 * HOUR  # past the old lease, and past both timers
        after = scene.dispatcher()
        await after.scan()  # takes the leases over, then fires what is due
        # (Two hours ahead, it may also take over other tests' destinations on this database.)
        assert {pager.id, ops.id} <= set(after.workers)
        [reminder] = await of_type(receiver, "event.reminder", 1)
        [escalated] = await of_type(receiver, "event.escalated", 1)
        assert Webhook(SECRET).verify(reminder.body, reminder.headers)["data"]["event"]["id"] == event_id
        assert Webhook(OTHER_SECRET).verify(escalated.body, escalated.headers)["data"]["fired"] == 1
        assert set(scene.timers(ops.id)) == {"repeat"} and scene.timers(ops.id)["repeat"].due_at > scene.fake_now[0]
    run(scene, scenario)


def test_the_admin_api_takes_and_checks_the_schedule(server):
    workspace_id = server.create_workspace()
    admin = server.client(headers={"Authorization": "Bearer " + server.create_key(("admin",),
                                                                                  workspace_id=workspace_id)})
    stranger = server.client(headers={"Authorization": "Bearer " + server.create_key(
        ("admin",), workspace_id=server.create_workspace())})
    body = {"name": "x", "kind": "webhook", "url": "https://hooks.example.com/x", "enabled": False}
    pager = admin.post("/admin/destinations", json=body).json()["data"]
    foreign = stranger.post("/admin/destinations", json=body).json()["data"]
    for fields, code in (({"repeat_every": 59}, "repeat_every_invalid"),
                         ({"repeat_every": 7 * 86400 + 1}, "repeat_every_invalid"),
                         ({"repeat_every": 90.5}, None),
                         ({"repeat_every": "15m"}, None),
                         ({"escalate_after": 30, "escalate_to": pager["id"]}, "escalate_after_invalid"),
                         ({"escalate_after": 600}, "escalate_to_required"),
                         ({"escalate_to": pager["id"]}, "escalate_after_required"),
                         ({"escalate_after": 600, "escalate_to": "nope"}, "escalate_to_invalid"),
                         ({"escalate_after": 600, "escalate_to": foreign["id"]}, "escalate_to_invalid")):
        reply = admin.post("/admin/destinations", json={**body, **fields})
        assert reply.status_code == 400, (fields, reply.text)
        if code is not None:
            assert error_code(reply) == code, (fields, reply.text)
    reply = admin.post("/admin/destinations", json={**body, "repeat_every": 900, "escalate_after": 1800,
                                                    "escalate_to": pager["id"]})
    assert reply.status_code == 201, reply.text
    made = reply.json()["data"]
    assert (made["repeat_every"], made["escalate_after"], made["escalate_to"]) == (900, 1800, pager["id"])
    one = f"/admin/destinations/{made['id']}"
    assert error_code(admin.patch(one, json={"escalate_to": made["id"]})) == "escalate_to_invalid"
    assert admin.patch(one, json={"repeat_every": 0}).json()["data"]["repeat_every"] is None
    cleared = admin.patch(one, json={"escalate_after": 0}).json()["data"]
    assert (cleared["escalate_after"], cleared["escalate_to"]) == (None, None)
    assert admin.get(f"/admin/destinations/{pager['id']}").json()["data"]["repeat_every"] is None

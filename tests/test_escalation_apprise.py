"""Escalation (SPEC §11) through Apprise: a reminder and an escalation really sent by the Apprise
library (its JSON service) to a real receiver on loopback, on a fake clock, and stopped by an
acknowledgement. The webhook side of the same schedule is tests/test_escalation.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from eventgate.domain.destinations import parse_filter
from eventgate.store.destinations import Destination, create_destination, list_attempts, take_lease
from eventgate.domain.times import now_ms
from tests.live_client import create
from tests.test_escalation import HOUR, MINUTE, Scene, run, scene  # noqa: F401  (fixture)


def apprise_destination(scene: Scene, owner: Any, url: str, **schedule: Any) -> Destination:
    """An Apprise destination whose lease `owner` holds from the start (as Scene.destination does for webhooks)."""
    with scene.server.database.writer.begin() as connection:
        made = create_destination(connection, scene.workspace_id, name="apprise", kind="apprise", url=url,
                                  filter=parse_filter(None), secret=None, **schedule)
        assert take_lease(connection, made.id, owner.owner, now_ms() + HOUR, now_ms())
    scene.destinations.append(made.id)
    return made


async def titled(receiver: Any, prefix: str, count: int, path: str) -> list[Any]:
    """The Apprise JSON notifications whose title starts with `prefix`, waiting (bounded) for `count`."""
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in receiver.requests()
                 if r.path.endswith(path) and r.json().get("title", "").startswith(prefix)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


def test_an_apprise_destination_gets_its_reminder_and_escalation_through_apprise(scene, receiver):
    json_url = receiver.url.replace("http://", "json://")

    async def scenario() -> None:
        dispatcher = scene.dispatcher()
        pager = apprise_destination(scene, dispatcher, json_url + "/pager")
        phone = apprise_destination(scene, dispatcher, json_url + "/phone", repeat_every_s=60,
                                    escalate_after_s=120, escalate_to=pager.id)
        await dispatcher.scan()
        event_id = create(scene.server.client(), scene.channel, title="Disk full", message="98 % on /srv",
                          severity="high")
        timers = await scene.armed(phone.id)
        assert len(await titled(receiver, "[HIGH] Disk full", 2, "")) == 2  # the creation, to both
        received_at = timers["repeat"].due_at - MINUTE

        scene.fake_now[0] = received_at + MINUTE
        assert await dispatcher.fire_timers() == 1
        [reminder] = await titled(receiver, "Still unacknowledged: ", 1, "/phone")
        assert reminder.json()["title"] == "Still unacknowledged: [HIGH] Disk full"
        assert reminder.json()["message"] == "98 % on /srv"

        scene.fake_now[0] = received_at + 2 * MINUTE  # the second reminder and the escalation
        assert await dispatcher.fire_timers() == 2
        [escalated] = await titled(receiver, "Escalated: ", 1, "/pager")
        assert escalated.json()["title"] == "Escalated: [HIGH] Disk full"
        assert len(await titled(receiver, "Still unacknowledged: ", 2, "/phone")) == 2

        writer = scene.server.client(headers={"Authorization": "Bearer " + scene.server.create_key(
            ("events:write",), workspace_id=scene.workspace_id)})
        assert writer.post(f"/events/{event_id}/acknowledge").status_code == 200
        scene.fake_now[0] = received_at + 10 * MINUTE
        assert await dispatcher.fire_timers() == 0  # acknowledged: the due reminder is dropped, not sent
        assert scene.timer_list(phone.id) == []
        assert len(await titled(receiver, "Still unacknowledged: ", 0, "/phone")) == 2

        with scene.server.database.reader.connect() as connection:
            recorded = list_attempts(connection, phone.id) + list_attempts(connection, pager.id)
        scheduled = sorted((a.webhook_id, a.outcome) for a in recorded if a.seq is None)
        assert scheduled == sorted([(f"msg_{phone.id}_{event_id}_repeat_1", "delivered"),
                                    (f"msg_{phone.id}_{event_id}_repeat_2", "delivered"),
                                    (f"msg_{pager.id}_{event_id}_escalate_1", "delivered")])
    run(scene, scenario)

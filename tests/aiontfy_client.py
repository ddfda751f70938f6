"""Run by the aiontfy environment's python (tests/aiontfy_venv.py), never by the suite's own:
drives eventgate with aiontfy and prints what it saw, one JSON object per line.

    aiontfy_client.py subscribe URL TOPIC --user U --password P   can_subscribe, then subscribe over
                                                                  WebSocket until 3 messages arrived
    aiontfy_client.py check URL TOPIC --token T                   can_subscribe; prints the error if refused
    aiontfy_client.py account URL - --user U --password P         what Home Assistant does when a server is
                                                                  added: account(), then generate_token()
"""

import argparse
import asyncio
import json
import sys

from aiontfy import Ntfy
from aiontfy.exceptions import NtfyHTTPError


def say(**fields):
    print(json.dumps(fields), flush=True)


async def subscribe(ntfy, topic, wanted):
    done = asyncio.Event()
    messages = []

    def received(notification):
        say(event=notification.event.value, id=notification.id, topic=notification.topic,
            title=notification.title, message=notification.message, sequence_id=notification.sequence_id,
            priority=int(notification.priority) if notification.priority is not None else None)
        if notification.event.value == "message":
            messages.append(notification)
            if len(messages) >= wanted:
                done.set()

    task = asyncio.create_task(ntfy.subscribe([topic], received))
    waiting = asyncio.create_task(done.wait())
    finished, _ = await asyncio.wait({task, waiting}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    if task in finished and task.exception() is not None:
        raise task.exception()
    if waiting not in finished:
        sys.exit("timed out waiting for messages")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("subscribe", "check", "account"))
    parser.add_argument("url")
    parser.add_argument("topic")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--token")
    parser.add_argument("--messages", type=int, default=3)
    args = parser.parse_args()
    async with Ntfy(args.url, username=args.user, password=args.password, token=args.token) as ntfy:
        if args.mode == "account":
            account = await ntfy.account()
            token = await ntfy.generate_token("Home Assistant")
            say(username=account.username, token=token.token)
            return
        try:
            allowed = await ntfy.can_subscribe([args.topic])
        except NtfyHTTPError as error:
            say(refused=type(error).__name__, code=error.code, http=error.http, error=error.error)
            return
        say(can_subscribe=allowed)
        if args.mode == "subscribe":
            await subscribe(ntfy, args.topic, args.messages)


asyncio.run(main())

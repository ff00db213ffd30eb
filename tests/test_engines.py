"""The assistant used from plain llama-index code: retriever, query engine, chat engine."""

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.schema import QueryBundle


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

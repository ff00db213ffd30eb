"""The assistant as llama-index's own interfaces: a query engine and a chat engine built
from the answer pipeline's parts, so it plugs into a llama-index user's code.

Retrieval, answering, citations and declines stay the pipeline's (exact-offset quotes,
language-aware fusion, the fitted answer decision). A source node is the cited passage
itself: ``node.text`` is the quote and ``start_char_idx`` / ``end_char_idx`` its span in
the file, so ``file_text[start:end] == node.text``. The chat engine keeps its conversation
in a llama-index ``BaseMemory`` (each answer's cited files in ``additional_kwargs``), adopts
a ``chat_history`` it is given, and streams sync and async without a helper thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import Response
from llama_index.core.bridge.pydantic import Field
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.memory import BaseMemory, ChatMemoryBuffer
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle

from assistant.answer.citations import Citation
from assistant.answer.pipeline import AnswerPipeline
from assistant.answer.types import Answer, AnswerStream
from assistant.retrieve.retriever import HybridRetriever, Search

__all__ = ["AssistantChatEngine", "AssistantQueryEngine", "citation_node"]

MEMORY_TOKENS = 3000  # the history a chat engine keeps; the pipeline reads its last turns


def citation_node(c: Citation) -> NodeWithScore:
    """A cited passage as a llama-index node: the quote, its span, its file and page."""
    from llama_index.core.schema import TextNode

    node = TextNode(
        id_=f"{c.source}:{c.start}-{c.end}",
        text=c.quote,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata={"source": c.source, "page": c.page, "n": c.n},
    )
    return NodeWithScore(node=node, score=float(c.score))


def answer_metadata(answer: Answer) -> dict[str, Any]:
    return {
        "outcome": answer.outcome,
        "declined": answer.declined,
        "confidence": answer.confidence,
        "language": answer.language,
        "mode": answer.mode,
        "notice": answer.notice,
        "scope": list(answer.scope),
    }


def answer_response(answer: Answer) -> Response:
    return Response(
        response=answer.text,
        source_nodes=[citation_node(c) for c in answer.citations],
        metadata=answer_metadata(answer),
    )


class AssistantQueryEngine(CustomQueryEngine):
    """``query()`` gives a Response whose text carries [n] markers and whose source nodes
    are exactly the cited passages; ``metadata`` says the outcome. ``aquery()`` answers on
    a worker thread, so the event loop stays free."""

    retriever: HybridRetriever
    pipeline: AnswerPipeline
    documents: list[str] | None = Field(default=None, description="scope (None: all)")

    @classmethod
    def from_pipeline(
        cls, pipeline: AnswerPipeline, documents: list[str] | None = None
    ) -> AssistantQueryEngine:
        return cls(retriever=pipeline.retriever, pipeline=pipeline, documents=documents)

    def custom_query(self, query_str: str) -> Response:
        events = self.pipeline.events(query_str, None, self.documents)
        return answer_response(AnswerStream(events).answer)

    async def acustom_query(self, query_str: str) -> Response:
        return await asyncio.to_thread(self.custom_query, query_str)

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The chunks this engine would read (scoped like its answers)."""
        query = Search(query_bundle.query_str, embedding=query_bundle.embedding)
        query.sources = self.documents
        return self.retriever.retrieve(query)


def message_turn(message: ChatMessage) -> dict:
    """A memory message as a pipeline history turn (with the files an answer cited)."""
    role = str(getattr(message.role, "value", message.role))
    turn = {"role": role, "content": message.content or ""}
    sources = message.additional_kwargs.get("sources")
    if role == "assistant" and isinstance(sources, list):
        turn["sources"] = [str(s) for s in sources]
    return turn


def answer_message(answer: Answer) -> ChatMessage:
    turn = answer.to_message()
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        content=turn["content"],
        additional_kwargs={"sources": turn["sources"]},
    )


class AssistantChatEngine(BaseChatEngine):
    """Follow-up questions over the conversation in ``memory``; ``chat_history`` given to a
    call replaces it, as in llama-index's own chat engines."""

    def __init__(
        self,
        pipeline: AnswerPipeline,
        memory: BaseMemory | None = None,
        documents: list[str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.memory = memory or ChatMemoryBuffer.from_defaults(token_limit=MEMORY_TOKENS)
        self.documents = documents
        self._lock = threading.Lock()

    @property
    def chat_history(self) -> list[ChatMessage]:
        return self.memory.get_all()

    def reset(self) -> None:
        self.memory.reset()

    def _turns(self, chat_history: list[ChatMessage] | None) -> list[dict]:
        with self._lock:
            if chat_history is not None:
                self.memory.set(list(chat_history))  # the caller's list stays as it was
            return [message_turn(m) for m in self.memory.get_all()]

    def _remember(self, message: str, answer: Answer) -> None:
        with self._lock:
            self.memory.put(ChatMessage(role=MessageRole.USER, content=message))
            self.memory.put(answer_message(answer))

    def _stream(self, message: str, turns: list[dict]) -> AnswerStream:
        return AnswerStream(self.pipeline.events(message, turns, self.documents))

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        answer = self._stream(message, self._turns(chat_history)).answer
        self._remember(message, answer)
        return AgentChatResponse(
            response=answer.text,
            source_nodes=[citation_node(c) for c in answer.citations],
            metadata=answer_metadata(answer),
        )

    def _finish(self, response: StreamingAgentChatResponse, message: str, answer: Answer) -> None:
        response.source_nodes.extend(citation_node(c) for c in answer.citations)
        response.metadata = answer_metadata(answer)
        self._remember(message, answer)

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """Pieces as the pipeline yields them; sources, metadata and memory at the end."""
        stream = self._stream(message, self._turns(chat_history))
        response = StreamingAgentChatResponse(is_writing_to_memory=False)

        def pieces() -> Generator[ChatResponse, None, None]:
            text = ""
            for piece in stream:
                text += piece
                yield _chat_piece(text, piece)
            self._finish(response, message, stream.answer)

        response.chat_stream = pieces()
        return response

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """As :meth:`stream_chat`; each step of the answer runs on a worker thread."""
        stream = self._stream(message, self._turns(chat_history))
        response = StreamingAgentChatResponse(is_writing_to_memory=False)

        async def pieces() -> AsyncGenerator[ChatResponse, None]:
            text = ""
            async for piece in _off_loop(stream):
                text += piece
                yield _chat_piece(text, piece)
            self._finish(response, message, stream.answer)

        response.achat_stream = pieces()
        return response


def _chat_piece(text: str, piece: str) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)


async def _off_loop(pieces: Iterator[str]) -> AsyncGenerator[str, None]:
    """A blocking iterator read step by step on a worker thread."""
    done = object()
    it = iter(pieces)
    while (piece := await asyncio.to_thread(next, it, done)) is not done:
        yield piece  # type: ignore[misc]

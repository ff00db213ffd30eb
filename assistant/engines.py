"""The assistant behind llama-index's own interfaces: a retriever, a query engine and a
chat engine, so it plugs into a llama-index user's code.

They are thin: retrieval, answering, citations and declines stay the assistant's own
(exact-offset quotes, language-aware fusion, the answerability decision). A source node
is the cited passage itself: ``node.text`` is the quote and ``start_char_idx`` /
``end_char_idx`` its span in the file, so ``file_text[start:end] == node.text``.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import Response
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from assistant.answer.citations import Citation
from assistant.answer.types import Answer

if TYPE_CHECKING:
    from assistant.api import Assistant


def citation_node(c: Citation) -> NodeWithScore:
    """A cited passage as a llama-index node: the quote, its span, its file and page."""
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
    }


class AssistantQueryEngine(BaseQueryEngine):
    """``query()`` gives a Response whose text carries [n] markers and whose source nodes
    are exactly the cited passages; ``metadata`` says whether the question was declined."""

    def __init__(self, assistant: Assistant):
        super().__init__(callback_manager=None)
        self._assistant = assistant

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self._assistant.ask(query_bundle.query_str)
        return Response(
            response=answer.text,
            source_nodes=[citation_node(c) for c in answer.citations],
            metadata=answer_metadata(answer),
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)


class AssistantChatEngine(BaseChatEngine):
    """Follow-up questions over the conversation kept here; ``stream_chat`` streams."""

    def __init__(self, assistant: Assistant):
        self._assistant = assistant
        self._history: list[dict] = []
        self._lock = threading.Lock()

    @property
    def chat_history(self) -> list[ChatMessage]:
        roles = {"user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}
        return [ChatMessage(role=roles[m["role"]], content=m["content"]) for m in self._history]

    def reset(self) -> None:
        with self._lock:
            self._history = []

    def _history_for(self, chat_history: list[ChatMessage] | None) -> list[dict]:
        if chat_history is None:
            return list(self._history)
        return [
            {"role": str(getattr(m.role, "value", m.role)), "content": m.content or ""}
            for m in chat_history
        ]

    def _remember(self, message: str, answer: Answer) -> None:
        with self._lock:
            self._history += [{"role": "user", "content": message}, answer.to_message()]

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        answer = self._assistant.ask(message, history=self._history_for(chat_history))
        self._remember(message, answer)
        return AgentChatResponse(
            response=answer.text,
            source_nodes=[citation_node(c) for c in answer.citations],
            metadata=answer_metadata(answer),
        )

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        history = self._history_for(chat_history)
        response = StreamingAgentChatResponse(chat_stream=None, source_nodes=[])

        def pieces() -> Generator[ChatResponse, None, None]:
            text = ""
            stream = self._assistant.stream(message, history)
            for piece in stream:
                text += piece
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece
                )
            answer = stream.answer
            response.source_nodes.extend(citation_node(c) for c in answer.citations)
            response.metadata = answer_metadata(answer)
            self._remember(message, answer)

        response.chat_stream = pieces()
        thread = threading.Thread(
            target=response.write_response_to_history, args=(_Discard(),), daemon=True
        )
        thread.start()
        response.write_response_to_history_thread = thread
        return response

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        return self.chat(message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        return self.stream_chat(message, chat_history)


class _Discard:
    """The streaming response wants a memory to write the final message to; this engine
    keeps its own conversation (with the cited sources), so the copy is dropped."""

    def put(self, message: ChatMessage) -> None:
        return None

"""`assistant` console script: index, ask, chat, serve, eval, feedback, users.

User errors (bad question, missing corpus, locked index, unreachable LLM) print one
readable line on stderr and exit 2; nothing else prints a traceback unless --debug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant import _env  # noqa: F401
from assistant.errors import AssistantError
from assistant.ingest.loaders import FORMAT_NAMES, display_name
from assistant.ingest.progress import ProgressBar


def _make(args: argparse.Namespace) -> Any:
    from assistant.api import Assistant
    from assistant.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "corpus", None):
        overrides["corpus_dir"] = Path(args.corpus)
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "mode", None):
        overrides["answer_mode"] = args.mode
    if getattr(args, "open", False):
        overrides["open_access"] = True
    return Assistant(Settings.load(**overrides))


def _index(bot: Any, rebuild: bool = False, quiet: bool = False) -> Any:
    bar = ProgressBar(quiet)
    try:
        report = bot.index(progress=bar, rebuild=rebuild)
    finally:
        bar.close()
    print(report.summary(skipped_reasons=False), file=sys.stderr)
    for skipped in report.skipped:
        print(f"warning: skipped {display_name(skipped.source)}: {skipped.reason}", file=sys.stderr)
    return report


def cmd_index(args: argparse.Namespace) -> int:
    _index(_make(args), rebuild=args.rebuild)
    return 0


def _print_answer(answer: Any) -> None:
    print(answer.text)
    if answer.citations:
        print()
        for c in answer.citations:
            page = f", page {c.page}" if c.page else ""
            where = f"{display_name(c.source)}{page}, characters {c.start}-{c.end}"
            print(f"[{c.n}] {where} (score {c.score:.3f})")
            print(f"    „{' '.join(c.quote.split())}“")


def _require_corpus(bot: Any) -> None:
    """Answering from an index whose corpus folder is gone would hide a typo in --corpus."""
    from assistant.ingest.indexing import require_corpus

    require_corpus(bot.settings)


SCOPE_HELP = "only this indexed document (repeat for several; default: all)"


def cmd_ask(args: argparse.Namespace) -> int:
    bot = _make(args)
    from assistant.api import validate_question

    validate_question(args.question, bot.settings.max_question_chars)  # fail before indexing
    _require_corpus(bot)
    if bot.ensure_index(ProgressBar(quiet=args.json)) is not None and not args.json:
        print("(indexed the corpus first)", file=sys.stderr)
    answer = _answer(bot, args.question, args.document)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def _show_status(status: Any) -> None:
    """Signs of life while the model is waited for go to stderr, never into the answer."""
    print(f"… {status.text}", file=sys.stderr, flush=True)


def _answer(bot: Any, question: str, documents: list[str] | None = None) -> Any:
    return bot.stream(question, documents=documents, on_status=_show_status).answer


def cmd_chat(args: argparse.Namespace) -> int:
    bot = _make(args)
    _require_corpus(bot)
    bot.ensure_index(ProgressBar())
    if hasattr(sys.stdin, "reconfigure"):
        # bytes that are not UTF-8 reach the question check (one error line), not a traceback
        sys.stdin.reconfigure(errors="surrogateescape")
    print(f"Answering mode: {bot.describe_mode()}. Empty line or Ctrl-D ends the chat.")
    history: list[dict] = []
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        try:
            stream = bot.stream(question, history, documents=args.document, on_status=_show_status)
            for piece in stream:
                print(piece, end="", flush=True)
            answer = stream.answer
            print()
            if answer and answer.citations:
                for c in answer.citations:
                    page = f", page {c.page}" if c.page else ""
                    print(f"  [{c.n}] {display_name(c.source)}{page} {c.start}-{c.end}")
            # the answer's turn names the files it cited: follow-ups stay in them
            history += [{"role": "user", "content": question}, answer.to_message()]
        except AssistantError as exc:
            print(f"error: {exc}", file=sys.stderr)


def cmd_remove(args: argparse.Namespace) -> int:
    import getpass

    from assistant.access.audit import AuditLog

    bot = _make(args)
    audit = AuditLog.for_settings(bot.settings)
    for name in args.files:
        source = _source_name(bot, name)
        bot.remove_document(source)
        audit.append("delete", f"cli:{getpass.getuser()}", source)
        print(
            f"removed {display_name(source)} from {bot.settings.corpus_dir} and from the index",
            file=sys.stderr,
        )
    return 0


def _source_name(bot: Any, name: str) -> str:
    """`corpus/x.txt` (a path to the file) or `x.txt` (the name `documents()` lists)."""
    corpus = Path(bot.settings.corpus_dir).resolve()
    path = Path(name).resolve()
    if Path(name).exists() and path.is_relative_to(corpus) and path != corpus:
        return path.relative_to(corpus).as_posix()
    return name


def cmd_serve(args: argparse.Namespace) -> int:
    bot = _make(args)
    host = args.host or bot.settings.host
    from ui.auth import check_serving

    check_serving(bot.settings, host)  # before indexing: refusing takes no time
    _require_corpus(bot)
    if bot.store.read_only:  # a reader never writes: serve the index as it is
        print(
            f"note: the index folder {bot.settings.index_dir} is read-only; serving it as it "
            "is (uploads and removals are refused)",
            file=sys.stderr,
        )
        bot.ensure_index()
    elif not args.no_index:
        _index(bot)
    from ui.app import serve

    serve(bot, host=host, port=args.port or bot.settings.port)
    return 0


def _users(args: argparse.Namespace) -> Any:
    from assistant.access.users import UserStore
    from assistant.settings import Settings

    overrides = {"index_dir": Path(args.index)} if getattr(args, "index", None) else {}
    return UserStore.for_settings(Settings.load(**overrides))


def _read_password(from_stdin: bool) -> str:
    """The password: one line from stdin for scripts, else typed twice without echo."""
    import getpass

    from assistant.errors import ConfigError

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to type the password in; pipe it with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise ConfigError("the two passwords differ; nothing was changed")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    store = _users(args)
    if args.action == "list":
        users = store.users()
        for user in users:
            print(f"{user.name}\t{user.role}\t{user.created}")
        if not users:
            print(f"no users in {store.path}: the chat is open on 127.0.0.1 only", file=sys.stderr)
        return 0
    if not args.name:
        from assistant.errors import ConfigError

        raise ConfigError(f"`assistant users {args.action}` needs a user name")
    if args.action == "remove":
        store.remove(args.name)
        print(f"removed user {args.name} from {store.path}", file=sys.stderr)
        return 0
    from assistant.access.users import check_name, check_role

    check_name(args.name)  # before asking for a password
    check_role(args.role)
    store.add(args.name, _read_password(args.password_stdin), args.role, update=args.update)
    print(
        f"{'updated' if args.update else 'added'} {args.role} {args.name} in {store.path}; "
        "a running server sees the change at once (log-in itself starts with the first "
        "user: restart an open server)",
        file=sys.stderr,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from assistant.errors import ConfigError
    from assistant.evaluation import run_eval

    bot = _make(args)
    qa_files = [Path(q) for q in args.qa_file]
    if args.feedback:
        qa_files.append(_export_feedback(bot.settings, Path(args.out) / FEEDBACK_QUESTIONS))
    if not qa_files:
        raise ConfigError("`assistant eval` needs a questions file (QA_FILE) or --feedback")
    run_eval(
        bot,
        qa_files,
        Path(args.out),
        limit=args.limit,
        reindex=not args.no_index,
        split=args.split,
    )
    return 0


FEEDBACK_QUESTIONS = "feedback_questions.jsonl"


def _export_feedback(settings: Any, out: Path) -> Path:
    """The ratings in ``<index_dir>/feedback.jsonl`` as eval questions in ``out``."""
    from assistant.errors import ConfigError
    from assistant.feedback import FeedbackLog, export

    log = FeedbackLog.for_settings(settings)
    count = export(log, out)
    if not count:
        raise ConfigError(f"no feedback recorded in {log.path}; rate some answers first")
    print(f"{count} rated questions from {log.path} written to {out}", file=sys.stderr)
    return out


def cmd_feedback(args: argparse.Namespace) -> int:
    from assistant.settings import Settings

    overrides = {"index_dir": Path(args.index)} if args.index else {}
    _export_feedback(Settings.load(**overrides), Path(args.out))
    return 0


MODES = ["auto", "extractive", "generative"]
MODE_HELP = (
    "how answers are made: extractive quotes the documents offline, generative asks the "
    "configured LLM, auto (default, ASSISTANT_ANSWER_MODE) uses the LLM when one is set"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Ask your documents; every answer cites its sources."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    _asking_parsers(sub)
    _serving_parsers(sub)
    _eval_parser(sub)
    _feedback_parser(sub)
    return parser


def common(p: argparse.ArgumentParser) -> None:
    """The folders every command that reads the corpus or the index takes."""
    p.add_argument(
        "--corpus",
        help=f"documents folder, {FORMAT_NAMES} files (default: ASSISTANT_CORPUS_DIR or corpus/)",
    )
    p.add_argument("--index", help="index folder (default: ASSISTANT_INDEX_DIR or index/)")


def _asking_parsers(sub: Any) -> None:
    """index, ask, chat, remove."""
    p = sub.add_parser("index", help="index the corpus (incremental)")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything into a fresh index")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer one question")
    common(p)
    p.add_argument("question", help="the question, in German or English (quote it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--mode", choices=MODES, help=MODE_HELP)
    p.add_argument("--document", action="append", metavar="NAME", help=SCOPE_HELP)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="chat in the terminal, with follow-up questions")
    common(p)
    p.add_argument("--mode", choices=MODES, help=MODE_HELP)
    p.add_argument("--document", action="append", metavar="NAME", help=SCOPE_HELP)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("remove", help="remove documents from the corpus folder and the index")
    common(p)
    p.add_argument("files", nargs="+", metavar="FILE", help="a file name as indexed, or its path")
    p.set_defaults(func=cmd_remove)


def _serving_parsers(sub: Any) -> None:
    """serve and users."""
    p = sub.add_parser("serve", help="index if needed, then serve the browser chat")
    common(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--no-index", action="store_true", help="do not update the index first")
    p.add_argument(
        "--open",
        action="store_true",
        help="no log-in, even beyond 127.0.0.1: anyone who reaches the port may read, upload "
        "and delete (ASSISTANT_OPEN_ACCESS); without it, log-in is required once users exist "
        "and a non-loopback --host needs users",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "users",
        help="who may log in to the served chat (users.json beside the index)",
        description="Users of the served chat. A reader asks and opens documents; an editor "
        "also uploads, replaces and deletes. Once a user exists, `assistant serve` requires "
        "log-in. Passwords are stored as salted scrypt hashes only.",
    )
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("name", nargs="?", help="user name (add, remove)")
    p.add_argument("--index", help="index folder (default: ASSISTANT_INDEX_DIR or index/)")
    p.add_argument("--role", choices=["reader", "editor"], default="reader", help="default reader")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    p.add_argument("--update", action="store_true", help="change an existing user's password/role")
    p.set_defaults(func=cmd_users)


def _eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure retrieval, answer and citation quality")
    common(p)
    p.add_argument("qa_file", nargs="*", help="XQuAD-style or own JSON-lines QA files")
    p.add_argument(
        "--feedback",
        action="store_true",
        help=f"also ask the questions users rated (index/feedback.jsonl, exported to "
        f"OUT/{FEEDBACK_QUESTIONS})",
    )
    p.add_argument(
        "--split",
        choices=["fit", "heldout"],
        help="only rows of this split",
    )
    p.add_argument("--mode", choices=["extractive", "generative"])
    p.add_argument("--out", default="eval-out", help="folder for report.json/.md/.png")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--no-index", action="store_true", help="use the index as it is")
    p.set_defaults(func=cmd_eval)


def _feedback_parser(sub: Any) -> None:
    """`assistant feedback export`: ratings beside the index as eval questions."""
    p = sub.add_parser(
        "feedback",
        help="export the answers users rated as questions for `assistant eval`",
        description="Ratings are kept in feedback.jsonl beside the index. `export` writes "
        "them in the question format of `assistant eval`: a thumbs-up expects the cited "
        "quote again, a thumbs-down asks for anything but the rejected answer.",
    )
    p.add_argument("action", choices=["export"])
    p.add_argument("--index", help="index folder (default: ASSISTANT_INDEX_DIR or index/)")
    p.add_argument(
        "--out", default=FEEDBACK_QUESTIONS, help=f"questions file (default {FEEDBACK_QUESTIONS})"
    )
    p.set_defaults(func=cmd_feedback)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AssistantError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The Documents tab: what is indexed (title, size, date), a drop zone for uploads, a
confirmed delete, one status line that is replaced by the next, and the audit trail;
``/upload`` and ``/remove`` for programs."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.ingest.limits import check_upload
from assistant.ingest.loaders import FORMAT_NAMES
from ui.render import md_escape
from ui.shared import Shared
from ui.text import t
from ui.uploads import reason_text, strip_name

TYPES = FORMAT_NAMES


def size_text(n: int, lang: str) -> str:
    """Bytes as a short size: "12 KB", "1,4 MB" (German decimal comma)."""
    if n < 1000:
        text = f"{n} B"
    elif n < 1_000_000:
        text = f"{n / 1000:.0f} KB"
    else:
        text = f"{n / 1e6:.1f} MB"
    return text.replace(".", ",") if lang == "de" else text


def date_text(stamp: float | None, lang: str) -> str:
    if not stamp:
        return ""
    day = datetime.fromtimestamp(stamp, tz=UTC)
    return day.strftime("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")


def documents_html(
    docs: list[dict], lang: str, dates: dict[str, float | None], titles: dict[str, str]
) -> str:
    """The indexed documents as a table: title (file name below it), size, date, chunks
    and language (the last two left out on a phone)."""
    if not docs:
        return f'<p class="none">{html.escape(t(lang, "no_documents"))}</p>'
    head = [
        ("", "col_document"),
        ("num", "col_size"),
        ("num", "col_date"),
        ("num wide", "col_chunks"),
        ("wide", "col_lang"),
    ]
    cells = "".join(f'<th class="{c}">{html.escape(t(lang, k))}</th>' for c, k in head)
    rows = []
    for d in docs:
        title = titles.get(d["source"]) or d.get("title") or d["source"]
        rows.append(
            "<tr>"
            f'<td><span class="title">{html.escape(title)}</span>'
            f'<span class="file">{html.escape(d["source"])}</span></td>'
            f'<td class="num">{size_text(int(d.get("bytes") or 0), lang)}</td>'
            f'<td class="num">{date_text(dates.get(d["source"]), lang)}</td>'
            f'<td class="num wide">{int(d.get("chunks") or 0)}</td>'
            f'<td class="wide">{html.escape(str(d.get("language") or ""))}</td></tr>'
        )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def audit_rows(shared: Shared, lang: str, last: int = 200) -> list[list[str]]:
    """The audit trail for the Documents tab, newest first."""
    rows = []
    for e in reversed(shared.audit.entries(last)):
        action = str(e.get("action", ""))
        label = t(lang, f"audit_{action}") if action in ("upload", "replace", "delete") else action
        when = str(e.get("time", "")).replace("T", " ")
        rows.append([when, str(e.get("user", "")), label, str(e.get("file", ""))])
    return rows


class DocumentsPanel:
    """The Documents tab of one app."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.mb = f"{shared.bot.settings.max_upload_mb:g}"

    # -- layout ----------------------------------------------------------------------
    def render(self) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                self.label = gr.Markdown(f"### {t('en', 'docs_label_reader')}")
                self.table = gr.HTML(self.table_html("en"), elem_id="docs-table")
                with gr.Row(elem_id="delete-row") as self.delete_row:
                    self.pick = gr.Dropdown(
                        choices=self.shared.document_choices(),
                        label=t("en", "delete_pick"),
                        elem_id="delete-pick",
                        scale=3,
                    )
                    self.ask = gr.Button(
                        t("en", "delete_button"), variant="stop", elem_id="delete", scale=1
                    )
                with gr.Row(visible=False, elem_id="confirm") as self.confirm_row:
                    self.confirm_text = gr.Markdown()
                    self.yes = gr.Button(t("en", "yes_delete"), variant="stop", elem_id="yes")
                    self.no = gr.Button(t("en", "cancel"), elem_id="cancel")
                self.pending = gr.State("")
            with gr.Column(scale=2, min_width=280) as self.edit_col:
                # no file_types: Gradio's own refusal would be English whatever the UI
                # language; ours says why in the UI's language
                self.upload = gr.File(
                    file_count="multiple",
                    label=t("en", "drop", types=TYPES, mb=self.mb),
                    elem_id="upload",
                    height=140,
                )
                self.replace = gr.Checkbox(label=t("en", "replace"), elem_id="replace")
                self.status = gr.Markdown(elem_id="upload-status")
                self.audit_table = gr.Dataframe(
                    headers=["Time (UTC)", "User", "Action", "File"],
                    interactive=False,
                    wrap=True,
                    label=t("en", "audit_label"),
                    elem_id="audit",
                    visible=False,
                )

    def labelled(self) -> list:
        return [self.label, self.table, self.delete_row, self.pick, self.ask]

    def labelled_edit(self) -> list:
        return [self.edit_col, self.upload, self.replace, self.yes, self.no, self.audit_table]

    def relabel(self, lang: str, can_edit: bool) -> tuple:
        return (
            f"### {t(lang, 'docs_label_reader')}",
            self.table_html(lang),
            gr.Row(visible=can_edit),
            gr.Dropdown(label=t(lang, "delete_pick"), choices=self.shared.document_choices()),
            gr.Button(value=t(lang, "delete_button")),
        )

    def relabel_edit(self, lang: str, can_edit: bool) -> tuple:
        return (
            gr.Column(visible=can_edit),
            gr.File(label=t(lang, "drop", types=TYPES, mb=self.mb)),
            gr.Checkbox(label=t(lang, "replace")),
            gr.Button(value=t(lang, "yes_delete")),
            gr.Button(value=t(lang, "cancel")),
            self.audit_update(lang, can_edit),
        )

    def table_html(self, lang: str) -> str:
        docs = self.shared.documents()
        dates = {d["source"]: self.shared.modified(d["source"]) for d in docs}
        return documents_html(docs, lang, dates, self.shared.titles() or {})

    def audit_update(self, lang: str, can_edit: bool = True):
        return gr.Dataframe(
            value=audit_rows(self.shared, lang) if can_edit else [],
            headers=[t(lang, k) for k in ("col_time", "col_user", "col_audit_action", "col_file")],
            label=t(lang, "audit_label"),
            visible=can_edit,
        )

    def refreshed(self, lang: str) -> tuple:
        """Table, delete picker and audit trail after a change."""
        return (
            self.table_html(lang),
            gr.Dropdown(choices=self.shared.document_choices(), value=None),
            self.audit_update(lang),
        )

    # -- uploads ---------------------------------------------------------------------
    def upload_report(self, files: list[str], replace: bool, progress: Any = None):
        """The library's UploadReport, or a refusal of the whole upload as (key, values)."""
        sizes = [(Path(p).name, Path(p).stat().st_size) for p in files]
        problem = check_upload(self.shared.bot.settings, sizes, bool(replace))
        if problem is not None:
            return f"limit_{problem.kind}", {"n": problem.n, "max": problem.max, "mb": problem.n}
        items = [(Path(p).name, Path(p).read_bytes()) for p in files]
        # answerable once the chunks are in; sentence vectors follow in a thread
        return self.shared.bot.add_documents(
            items, progress=progress, replace=bool(replace), background=True
        )

    def index_uploads(
        self,
        files: list[str] | None,
        replace: bool,
        lang: str,
        request: gr.Request = None,
        progress=gr.Progress(),  # noqa: B008
    ) -> str:
        """Index the dropped files; the status in the UI's language, one line a file."""
        if not self.shared.may(request, "upload"):
            return self.shared.refusal_text(request, lang)
        if not files:
            return t(lang, "no_file")

        def report(stage: str, done: int, total: int) -> None:
            if total:
                key = f"stage_{stage}" if stage in ("loading", "embedding") else "stage_other"
                progress(done / total, desc=t(lang, key, done=done, total=total))

        try:
            done = self.upload_report(files, replace, report)
        except AssistantError:
            return t(lang, "error", why=t(lang, "refused_other"))
        if isinstance(done, tuple):
            return t(lang, done[0], **done[1])
        return "\n\n".join(self.status_lines(done, lang, request))

    def status_lines(self, done: Any, lang: str, request: gr.Request | None) -> list[str]:
        for name in done.added:
            self.shared.record("upload", name, request)
        for name in done.replaced:
            self.shared.record("replace", name, request)
        lines = [t(lang, "indexed", name=md_escape(n)) for n in done.added]
        lines += [t(lang, "replaced", name=md_escape(n)) for n in done.replaced]
        lines += [t(lang, "unchanged", name=md_escape(n)) for n in done.unchanged]
        for skipped in done.index.skipped if done.index is not None else []:
            why = reason_text(skipped.source, skipped.reason, lang, TYPES, self.mb)
            lines.append(t(lang, "skipped", name=md_escape(skipped.source), why=md_escape(why)))
        for name, reason in done.rejected:
            why = reason_text(name, reason, lang, TYPES, self.mb)
            lines.append(t(lang, "rejected", name=md_escape(name), why=md_escape(why)))
        return lines

    # -- deleting --------------------------------------------------------------------
    def ask_delete(self, name: str | None, lang: str, request: gr.Request = None):
        known = {s for _, s in self.shared.document_choices()}
        if not name or name not in known or not self.shared.may(request, "delete"):
            return gr.skip(), gr.skip(), gr.skip()
        return gr.Row(visible=True), t(lang, "confirm_delete", name=md_escape(name)), name

    def delete_document(self, name: str, lang: str, request: gr.Request = None):
        if not self.shared.may(request, "delete"):
            refused = self.shared.refusal_text(request, lang)
            return gr.Row(visible=False), refused, gr.skip(), gr.skip(), gr.skip()
        try:
            self.shared.bot.remove_document(name)
            self.shared.record("delete", name, request)
            status = t(lang, "deleted", name=md_escape(name))
        except AssistantError:
            status = t(lang, "error", why=t(lang, "refused_other"))
        return gr.Row(visible=False), status, *self.refreshed(lang)

    # -- programs --------------------------------------------------------------------
    def upload_api(self, files: list[str] | None, replace: bool, request: gr.Request = None):
        """`/upload`: English status lines (the library's reasons) and the table."""
        if not self.shared.may(request, "upload"):
            raise gr.Error(self.shared.refusal(request))
        if not files:
            status = "No file chosen."
        else:
            try:
                done = self.upload_report(files, replace)
            except AssistantError as exc:
                raise gr.Error(str(exc)) from exc
            status = self.api_status(done, request)
        rows = [
            [d["source"], d["chunks"], d["language"], d.get("title") or ""]
            for d in self.shared.documents()
        ]
        return status, rows

    def api_status(self, done: Any, request: gr.Request | None) -> str:
        if isinstance(done, tuple):
            return t("en", done[0], **done[1]).replace("**", "")
        lines = [line.replace("**", "") for line in self.status_lines(done, "en", request)]
        lines = [line for line in lines if not line.startswith(("Rejected:", "Skipped:"))]
        lines += [f"Rejected: {n}: {strip_name(n, r)}" for n, r in done.rejected]
        if done.index is not None:
            lines += [f"Skipped: {s.source}: {s.reason}" for s in done.index.skipped]
        return "\n\n".join(lines)

    def remove_api(self, name: str, request: gr.Request = None):
        if not self.shared.may(request, "delete"):
            raise gr.Error(self.shared.refusal(request))
        try:
            self.shared.bot.remove_document(name)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        self.shared.record("delete", name, request)
        return f"removed {name}"

    # -- events ----------------------------------------------------------------------
    def wire(self, lang: Any, scope_picker: Any, scope_update: Any) -> None:
        private: dict[str, Any] = {"api_visibility": "private"}
        index = {"concurrency_limit": 1, "concurrency_id": "index"}
        after = [self.table, self.pick, self.audit_table]
        self.upload.upload(
            self.index_uploads, [self.upload, self.replace, lang], [self.status], **index, **private
        ).then(self.refreshed, [lang], after, **private).then(
            lambda: gr.File(value=None), None, [self.upload], **private
        ).then(scope_update, None, [scope_picker], **private)
        self.ask.click(
            self.ask_delete,
            [self.pick, lang],
            [self.confirm_row, self.confirm_text, self.pending],
            **private,
        )
        self.yes.click(
            self.delete_document,
            [self.pending, lang],
            [self.confirm_row, self.status, *after],
            **index,
            **private,
        ).then(scope_update, None, [scope_picker], **private)
        self.no.click(lambda: gr.Row(visible=False), None, [self.confirm_row], **private)

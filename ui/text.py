"""Every string the browser app shows, in German and English (one language at a time).

The UI language comes from the browser (``navigator.languages``) and a switch; answers
keep following the question's language, whatever the UI language is.
"""

from __future__ import annotations

LANGUAGES = ("de", "en")

TEXT: dict[str, dict[str, str]] = {
    "de": {
        "title": "## Dokumenten-Assistent",
        "intro": "Fragen auf Deutsch oder Englisch; jede Antwort nennt ihre Quellen [n]. "
        "Ein Klick auf [n] zeigt die Stelle.",
        "mode_extractive": "**Modus:** offline, zitiert die passendsten Sätze der Dokumente "
        "(kein Sprachmodell)",
        "mode_generative": "**Modus:** Sprachmodell {model} bei {where}, mit geprüften Zitaten",
        "language": "Sprache",
        "tab_chat": "Chat",
        "tab_docs": "Dokumente",
        "chat_placeholder": "Frag deine Dokumente",
        "box_placeholder": "Frage eingeben (Deutsch oder Englisch), Enter sendet",
        "send": "Senden",
        "new": "Neues Gespräch",
        "examples": "Beispiele (ein Klick sendet die Frage)",
        "conversations": "Gespräche in diesem Browser ({n})",
        "conversation_list": "Öffnen",
        "delete_conversation": "Dieses Gespräch löschen",
        "no_conversations": "Noch keine gespeicherten Gespräche.",
        "sources": "### Quellen",
        "details": "Details (Zeichenpositionen, Scores)",
        "sources_empty": "Noch keine Quellen. Nach einer Antwort stehen hier die zitierten "
        "Stellen; ein Klick auf [n] in der Antwort springt zur Stelle.",
        "sources_of": "Zu Antwort {k}: „{q}“",
        "no_sources": "Keine Quelle: die Dokumente sagen dazu nichts.",
        "page": "Seite {p}",
        "chars": "Zeichen {s}–{e}",
        "score": "Score {x}",
        "confidence": "Sicherheit {c}",
        "open": "Dokument öffnen",
        "open_page": "Dokument öffnen (Seite {p})",
        "hedged": "nicht direkt beantwortet",
        "declined": "nicht in den Dokumenten",
        "too_long": "Die Frage ist zu lang ({n} Zeichen; höchstens {max} erlaubt). Sie bleibt "
        "im Eingabefeld, damit du sie kürzen kannst.",
        "refused": "Frage nicht beantwortet: {why}",
        "docs_label": "Indexierte Dokumente (zum Löschen auf „Löschen“ klicken)",
        "docs_label_reader": "Indexierte Dokumente",
        "col_document": "Dokument",
        "col_chunks": "Abschnitte",
        "col_lang": "Sprache",
        "col_action": "Aktion",
        "delete": "Löschen",
        "confirm_delete": "**{name}** löschen? Die Datei wird aus dem Dokumentenordner und "
        "aus dem Index entfernt; Antworten zitieren sie danach nicht mehr.",
        "yes_delete": "Ja, löschen",
        "cancel": "Abbrechen",
        "deleted": "**Gelöscht:** {name}",
        "upload": "Dateien hochladen ({types}; je höchstens {mb} MB)",
        "replace": "Vorhandene Dateien gleichen Namens ersetzen",
        "no_file": "Keine Datei gewählt.",
        "indexed": "**Indexiert:** {name}",
        "replaced": "**Ersetzt und indexiert:** {name}",
        "unchanged": "**Schon indexiert (unverändert):** {name}",
        "skipped": "**Übersprungen:** {name}: {why}",
        "rejected": "**Abgelehnt:** {name}: {why}",
        "error": "**Fehler:** {why}",
        "stage_loading": "Dateien lesen {done}/{total}",
        "stage_embedding": "Texte einbetten {done}/{total}",
        "stage_other": "Index aktualisieren",
        "login_title": "Dokumenten-Assistent: Anmelden",
        "login_user": "Benutzername",
        "login_password": "Passwort",
        "login_button": "Anmelden",
        "login_failed": "Anmeldung fehlgeschlagen: Benutzername oder Passwort stimmt nicht.",
        "login_slower": "Nach mehreren Fehlversuchen wartet jeder weitere Versuch länger.",
        "login_busy": "Zu viele Anmeldeversuche gleichzeitig. Warte kurz und versuch es dann "
        "noch einmal.",
        "signed_in": "Angemeldet als {user} ({role})",
        "logout": "Abmelden",
        "role_reader": "Leser: fragen und Dokumente lesen",
        "role_editor": "Bearbeiter: auch hochladen, ersetzen und löschen",
        "not_allowed": "**Nicht erlaubt:** Hochladen, Ersetzen und Löschen darf nur, wer die "
        "Rolle „editor“ hat.",
        "not_logged_in": "**Nicht erlaubt:** bitte zuerst anmelden.",
        "limit_files": "**Abgelehnt:** zu viele Dateien auf einmal ({n}; höchstens {max}). "
        "Nichts wurde hinzugefügt.",
        "limit_corpus": "**Abgelehnt:** die Dokumente wären zusammen {mb} MB groß, erlaubt "
        "sind {max} MB. Nichts wurde hinzugefügt.",
        "audit_label": "Protokoll: Hochladen, Ersetzen, Löschen (neueste zuerst)",
        "col_time": "Zeit (UTC)",
        "col_user": "Benutzer",
        "col_audit_action": "Aktion",
        "col_file": "Datei",
        "audit_upload": "hochgeladen",
        "audit_replace": "ersetzt",
        "audit_delete": "gelöscht",
    },
    "en": {
        "title": "## Document assistant",
        "intro": "Ask in German or English; every answer cites its sources [n]. "
        "Click [n] to see the passage.",
        "mode_extractive": "**Mode:** offline, quotes the best-matching sentences of the "
        "documents (no language model)",
        "mode_generative": "**Mode:** language model {model} at {where}, with checked citations",
        "language": "Language",
        "tab_chat": "Chat",
        "tab_docs": "Documents",
        "chat_placeholder": "Ask your documents",
        "box_placeholder": "Type a question (German or English), Enter sends",
        "send": "Send",
        "new": "New conversation",
        "examples": "Examples (a click sends the question)",
        "conversations": "Conversations in this browser ({n})",
        "conversation_list": "Open",
        "delete_conversation": "Delete this conversation",
        "no_conversations": "No saved conversations yet.",
        "sources": "### Sources",
        "details": "Details (character offsets, scores)",
        "sources_empty": "No sources yet. After an answer its cited passages appear here; "
        "click [n] in the answer to jump to the passage.",
        "sources_of": "For answer {k}: “{q}”",
        "no_sources": "No source: the documents do not say.",
        "page": "page {p}",
        "chars": "characters {s}–{e}",
        "score": "score {x}",
        "confidence": "confidence {c}",
        "open": "Open document",
        "open_page": "Open document (page {p})",
        "hedged": "not answered directly",
        "declined": "not in the documents",
        "too_long": "The question is too long ({n} characters; at most {max} allowed). It stays "
        "in the box so you can shorten it.",
        "refused": "Question not answered: {why}",
        "docs_label": "Indexed documents (click “Delete” to remove one)",
        "docs_label_reader": "Indexed documents",
        "col_document": "Document",
        "col_chunks": "Chunks",
        "col_lang": "Language",
        "col_action": "Action",
        "delete": "Delete",
        "confirm_delete": "Delete **{name}**? The file leaves the documents folder and the "
        "index; answers will no longer cite it.",
        "yes_delete": "Yes, delete",
        "cancel": "Cancel",
        "deleted": "**Deleted:** {name}",
        "upload": "Upload files ({types}; at most {mb} MB each)",
        "replace": "Replace existing files with the same name",
        "no_file": "No file chosen.",
        "indexed": "**Indexed:** {name}",
        "replaced": "**Replaced and indexed:** {name}",
        "unchanged": "**Already indexed (unchanged):** {name}",
        "skipped": "**Skipped:** {name}: {why}",
        "rejected": "**Rejected:** {name}: {why}",
        "error": "**Error:** {why}",
        "stage_loading": "Reading files {done}/{total}",
        "stage_embedding": "Embedding texts {done}/{total}",
        "stage_other": "Updating the index",
        "login_title": "Document assistant: log in",
        "login_user": "User name",
        "login_password": "Password",
        "login_button": "Log in",
        "login_failed": "Log-in failed: the user name or the password is wrong.",
        "login_slower": "After repeated failures each further try waits longer.",
        "login_busy": "Too many log-in attempts at once. Wait a moment, then try again.",
        "signed_in": "Logged in as {user} ({role})",
        "logout": "Log out",
        "role_reader": "reader: asks and reads documents",
        "role_editor": "editor: also uploads, replaces and deletes",
        "not_allowed": "**Not allowed:** only users with the role “editor” may upload, "
        "replace and delete.",
        "not_logged_in": "**Not allowed:** log in first.",
        "limit_files": "**Refused:** too many files in one upload ({n}; at most {max}). "
        "Nothing was added.",
        "limit_corpus": "**Refused:** the documents would grow to {mb} MB together; {max} MB "
        "are allowed. Nothing was added.",
        "audit_label": "Audit trail: uploads, replacements, deletions (newest first)",
        "col_time": "Time (UTC)",
        "col_user": "User",
        "col_audit_action": "Action",
        "col_file": "File",
        "audit_upload": "uploaded",
        "audit_replace": "replaced",
        "audit_delete": "deleted",
    },
}


def pick_language(value: str | None) -> str:
    """``de`` for any German locale (de-AT, de_CH, ...), otherwise ``en``."""
    return "de" if str(value or "").lower().startswith("de") else "en"


def t(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang`` with ``values`` filled in."""
    text = TEXT[pick_language(lang)][key]
    return text.format(**values) if values else text

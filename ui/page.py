"""The page's look and its few scripts: styles, the [n] → passage jump, and the language
switch that also drives Gradio's own strings (its toasts, buttons and footer)."""

from __future__ import annotations

import json

from ui.text import t

# Gradio titles its toasts with their English type ("Warning", "Error"); shown in the
# UI's language instead
TOAST_TITLES = {
    lang: {kind.capitalize(): t(lang, f"toast_{kind}") for kind in ("warning", "error", "info")}
    for lang in ("de", "en")
}

CSS = """
#header { align-items: center; flex-wrap: wrap; }
#header h2 { margin: 0; overflow-wrap: normal; word-break: keep-all; hyphens: none; }
#lang { max-width: 280px; }
#lang label { white-space: nowrap; }
#lang .wrap { flex-direction: row; flex-wrap: nowrap; gap: 4px; }
#header .prose p { margin: 0.2em 0; }
#mode { font-size: 0.9em; color: var(--body-text-color-subdued); }
#sources .answer-sources > h4 { margin: 0 0 6px 0; font-size: 0.95em; }
details.source { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 6px 10px; margin: 0 0 8px 0; scroll-margin-top: 12px; }
details.source.flash { outline: 3px solid #f59e0b; }
details.source summary { cursor: pointer; font-weight: 600; }
details.source .title { font-weight: 600; }
details.source .file { font-weight: 400; color: var(--body-text-color-subdued); }
details.source blockquote { margin: 6px 0; padding-left: 8px; border-left: 3px solid #d1d5db; }
details.source mark { background: #fde68a; color: #111827; padding: 0 2px; border-radius: 3px; }
details.source .gone { font-style: italic; color: var(--body-text-color-subdued); }
.dev { display: none; color: var(--body-text-color-subdued); font-size: 0.9em; }
#sources.show-details .dev { display: inline; }
#sources .none { color: var(--body-text-color-subdued); }
.answer-head { margin: 0 0 4px 0; display: flex; flex-wrap: wrap; gap: 4px 8px;
  align-items: center; }
.outcome { display: inline-block; font-size: 0.85em; font-weight: 600; padding: 1px 8px;
  border-radius: 10px; border: 1px solid; }
.outcome-answered { background: #dcfce7; color: #166534; border-color: #22c55e; }
.outcome-hedged { background: #fef3c7; color: #92400e; border-color: #f59e0b; }
.outcome-declined { background: #f3f4f6; color: #374151; border-color: #9ca3af; }
.certainty, .scope { font-size: 0.85em; color: var(--body-text-color-subdued); }
.inline-sources { display: none; margin-top: 8px; }
.inline-sources > p { font-weight: 600; margin: 0 0 4px 0; }
#chat a.cite { font-weight: 600; text-decoration: none; }
#docs-table table { width: 100%; border-collapse: collapse; }
#docs-table th, #docs-table td { text-align: left; padding: 4px 6px;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top; }
#docs-table th { white-space: nowrap; word-break: keep-all; hyphens: none; }
#docs-table td.num { white-space: nowrap; }
#docs-table .file { display: block; font-size: 0.85em; color: var(--body-text-color-subdued);
  overflow-wrap: anywhere; }
#conversations label { white-space: normal; }
@media (max-width: 700px) {
  #chat { height: 50vh !important; }
  #header h2 { font-size: 1.2em; }
  #header .prose p:not(#mode p) { font-size: 0.9em; }
  #sources-col { display: none !important; }
  .inline-sources { display: block; }
  #input-row { position: sticky; bottom: 0; z-index: 20;
    background: var(--background-fill-primary); padding: 4px 0; }
  #docs-table .wide { display: none; }
}
"""

# A click on [n] (a link to #src-K-N) opens passage N of answer K where it is shown:
# in the Sources panel beside the chat, or (phone) under the answer; the link never
# navigates. setLocale switches Gradio's own strings with the app's language switch:
# it calls changeLocale of the very module instance the page loaded.
HEAD = (
    """
<style>
/* outside the app's CSS, which Gradio scopes below .gradio-container: "clip", not
   "hidden", so that the question row can stick to the bottom of a phone's screen */
@media (max-width: 700px) { .gradio-container { overflow: clip !important; } }
</style>
<script>
(() => {
  const TOASTS = """
    + json.dumps(TOAST_TITLES, ensure_ascii=False)
    + """;
  function translateToasts() {
    const lang = document.documentElement.lang === "de" ? "de" : "en";
    document.querySelectorAll(".toast-title").forEach((el) => {
      const key = el.dataset.kind || el.textContent.trim();
      if (!TOASTS[lang][key]) return;
      el.dataset.kind = key;
      if (el.textContent.trim() !== TOASTS[lang][key]) el.textContent = TOASTS[lang][key];
    });
  }
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; translateToasts(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  function reveal(item) {
    document.querySelectorAll("details.source.flash").forEach((el) => el.classList.remove("flash"));
    item.open = true;
    item.classList.add("flash");
    item.scrollIntoView({ behavior: "instant", block: "start" });
  }
  function showSource(k, n) {
    const inline = document.getElementById(`isrc-${k}-${n}`);
    if (inline && inline.offsetParent !== null) return reveal(inline);
    const panel = document.getElementById("sources");
    if (!panel) return;
    panel.querySelectorAll("section[data-turn]").forEach((s) => {
      s.hidden = s.dataset.turn !== String(k);
    });
    const item = document.getElementById(`src-${k}-${n}`);
    if (item) reveal(item);
  }
  window.assistantShowSource = showSource;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href*='#src-']");
    if (!link) return;
    const m = link.getAttribute("href").match(/#src-(\\d+)-(\\d+)$/);
    if (!m) return;
    event.preventDefault();
    event.stopPropagation();
    showSource(m[1], m[2]);
  }, true);
  function coreUrl() {
    const links = [...document.querySelectorAll("link[rel=modulepreload], script[src]")]
      .map((l) => l.href || l.src);
    const loaded = performance.getEntriesByType("resource").map((e) => e.name);
    return [...links, ...loaded].find((u) => /\\/assets\\/core-[^/]*\\.js(\\?|$)/.test(u));
  }
  window.assistantSetLocale = async (lang) => {
    document.documentElement.lang = lang;
    for (let i = 0; i < 20; i++) {
      const url = coreUrl();
      if (url) {
        try {
          const core = await import(url);
          if (core.changeLocale) { core.changeLocale(lang); return true; }
        } catch (e) { console.warn("locale", e); }
        return false;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
})();
</script>
"""
)

# The UI language on load: the switch's last choice, else the browser's languages.
DETECT_LANGUAGE_JS = """
(lang, saved) => {
  let pick = localStorage.getItem("assistant-ui-lang");
  if (!pick) {
    const prefs = navigator.languages || [navigator.language || "en"];
    const known = prefs.find((l) => /^(de|en)\\b/i.test(l));
    pick = known && known.toLowerCase().startsWith("de") ? "de" : "en";
  }
  if (window.assistantSetLocale) window.assistantSetLocale(pick);
  // the conversations' side panel starts open where there is room for it beside the chat
  const side = document.querySelector("#sidebar");
  if (side && !side.classList.contains("open") && window.innerWidth >= 1000) {
    const toggle = side.querySelector(".toggle-button");
    if (toggle) toggle.click();
  }
  return [pick, saved];
}
"""
SWITCH_LANGUAGE_JS = """
(lang) => {
  localStorage.setItem("assistant-ui-lang", lang);
  if (window.assistantSetLocale) window.assistantSetLocale(lang);
  return lang;
}
"""
DETAILS_JS = """
(on) => {
  const panel = document.getElementById("sources");
  if (panel) panel.classList.toggle("show-details", !!on);
  return on;
}
"""

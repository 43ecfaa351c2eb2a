// Split a markdown text into top-level blocks, so a streaming answer re-renders only its last
// block: the finished ones are unchanged strings, and a memoised component skips them.
//
// Invariants:
// - splitBlocks(text).join("") === text; blank lines stay with the block before them;
// - rendering the blocks one after another gives what rendering the whole text gives (with
//   react-markdown + remark-gfm, whose micromark quirks are followed where they matter);
// - a block that is not the last never changes as the text grows: a split is decided only
//   from complete lines (the line after the blank ones must have its "\n"), and nothing a later
//   line does reaches back across a blank line — a setext underline (`===`) or a table's
//   delimiter row needs the line right above it, so they only ever change the last block.
//
// A split happens before the first unindented line after blank line(s), except where markdown
// carries a block across blank lines (CommonMark 0.31.2, https://spec.commonmark.org/0.31.2/):
// - inside a fenced code block (``` or ~~~; it closes with the same character, at least as
//   many, up to 3 spaces of indent; unclosed, it runs to the end of the text);
// - inside an HTML block that ends on a marker, not on a blank line: <script>, <pre>, <style>,
//   <textarea>, <!-- -->, <? ?>, <!X >, <![CDATA[ ]]> (the page shows raw HTML as text, but
//   the marker still decides where that text ends). Fence lines inside any HTML block are
//   HTML, not fences;
// - before an indented line: indented code, or the continuation of a list item;
// - before a list item when the block holds a list: the items of a loose list, split apart,
//   would become separate lists (and a numbering that restarts);
// - while a fence in a list item is open: its trailing blank lines would become code;
// - before "2." or "-" after indented code, which micromark then reads as text, not a list;
// - anywhere once a link or footnote definition (`[x]: url`, `[^1]: note`) appears: it serves
//   references in every block, so the text stays one block (and is re-rendered whole; this is
//   the one case where finished blocks do change: they are merged back).
// A table has no blank line in it, so it is never split.
//
// Lists decide where fences are: a fence or HTML block inside a list item ends with the item,
// at the first line indented less than the item's content, unless that line lazily continues
// the item's paragraph. So the scanner follows the top-level item's content column, the
// fences and HTML blocks in it, and whether a paragraph is open. It is a line scanner, not a
// parser: items nested in items, and blocks inside quotes, are approximated. Rendering random
// texts both ways found differences only in such nestings with lazy lines (about 1 in 30,000
// adversarial texts, none in answer-like ones).

const BLANK = /^[ \t\r]*$/;
// Also inside a quote or a list item: a definition there still serves the whole document.
const DEFINITION = /^[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?\[(?:[^\]\\]|\\.)+\]:/;
const FENCE = /^ {0,3}(`{3,}|~{3,})([^\n]*)$/;
const LIST_MARKER = /^( {0,3})([-*+]|\d{1,9}[.)])([ \t]*)([^\n]*)$/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t\r]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(?:=+|-+)[ \t\r]*$/;
const ATX_HEADING = /^ {0,3}#{1,6}(?:[ \t\r]|$)/;
const QUOTE = /^ {0,3}>/;
const HTML_UNTIL_MARKER = [
  [/^ {0,3}<(?:script|pre|style|textarea)(?:[ \t>\r]|$)/i, /<\/(?:script|pre|style|textarea)>/i],
  [/^ {0,3}<!--/, /-->/],
  [/^ {0,3}<\?/, /\?>/],
  [/^ {0,3}<![A-Za-z]/, />/],
  [/^ {0,3}<!\[CDATA\[/, /\]\]>/],
];
const HTML_BLOCK_NAMES =
  "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|" +
  "dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|" +
  "header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|" +
  "param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul";
const HTML_UNTIL_BLANK = new RegExp(`^ {0,3}</?(?:${HTML_BLOCK_NAMES})(?:[ \\t>\\r]|/>|$)`, "i");
// A line holding only one complete open or close tag; it cannot interrupt a paragraph.
const ATTRIBUTE = String.raw`[ \t]+[A-Za-z_:][\w.:-]*(?:[ \t]*=[ \t]*(?:[^\s"'=<>\x60]+|'[^']*'|"[^"]*"))?`;
const TAG = String.raw`<[A-Za-z][A-Za-z0-9-]*(?:${ATTRIBUTE})*[ \t]*/?>|</[A-Za-z][A-Za-z0-9-]*[ \t]*>`;
const HTML_LONE_TAG = new RegExp(String.raw`^ {0,3}(?:${TAG})[ \t\r]*$`);

export function splitBlocks(text) {
  return blockSplitter()(text);
}

// splitBlocks for a text that grows, as a streaming answer does: each call reads only the
// complete lines that are new since the last call, and returns the finished blocks as the
// same strings as before. A text that does not extend the lines read so far is split afresh.
// One pass over the complete lines; the last line, without its "\n" yet, decides nothing.
export function blockSplitter() {
  let scan = null;
  let read = ""; // the complete lines read so far
  let whole = false; // a line made the text stay one block (a definition): it does as the text grows
  let finished = []; // the blocks before the last cut
  return (text) => {
    if (scan === null || !text.startsWith(read)) {
      scan = newScan();
      read = "";
      whole = false;
      finished = [];
    }
    let pos = read.length;
    for (let nl = text.indexOf("\n", pos); nl !== -1 && !whole; nl = text.indexOf("\n", pos)) {
      whole = !readLine(scan, text.slice(pos, nl), pos);
      pos = nl + 1;
    }
    read = text.slice(0, pos);
    if (whole) return [text];
    const { cuts } = scan;
    for (let i = finished.length; i < cuts.length; i++) finished.push(text.slice(i ? cuts[i - 1] : 0, cuts[i]));
    const start = cuts.length ? cuts[cuts.length - 1] : 0;
    return start < text.length ? [...finished, text.slice(start)] : [...finished];
  };
}

function newScan() {
  return {
    cuts: [], // the offsets where a new block starts
    raw: null, // inside a top-level fenced code or HTML block: its verdict on each next line
    afterBlank: false, // the line before this one was blank
    // What the last line leaves open for the next: a "paragraph" it may continue (or a quoted
    // one, "quote-text"), indented "code", an open list item with a paragraph ("item-text") or
    // without one ("item"), or "none".
    previous: "none",
    item: null, // the open top-level list item: { column, raw, empty }
    blockHasList: false,
  };
}

// Reads one complete line; false when the text must stay whole.
function readLine(scan, line, pos) {
  if (scan.raw && readRawLine(scan, line)) return true;
  if (BLANK.test(line)) {
    scan.afterBlank = true;
    if (textOpen(scan.previous)) scan.previous = "none";
    if (scan.previous === "item-text") scan.previous = "item";
    if (scan.item && scan.item.empty) scan.item = null; // an item cannot open with a blank line
    if (scan.item && scan.item.raw && scan.item.raw(line) === "ended") scan.item.raw = null;
    return true;
  }
  if (DEFINITION.test(line)) return false;
  const indent = columnsOf(line);
  const afterBlank = scan.afterBlank;
  scan.afterBlank = false;
  if (scan.item && indent >= scan.item.column) {
    readItemLine(scan, line.trimStart(), indent - scan.item.column);
    return true;
  }
  const listItem = listItemAt(line, scan.previous);
  if (afterBlank && pos > 0 && indent === 0 && startsBlock(scan, line, listItem)) {
    scan.cuts.push(pos);
    scan.blockHasList = false;
  }
  if (listItem) {
    scan.item = { column: listItem.column, raw: null, empty: true };
    scan.blockHasList = true;
    scan.previous = "item";
    readItemLine(scan, listItem.content, listItem.depth);
  } else if (scan.previous === "item-text" && !interruptsParagraph(line)) {
    // A lazy line: the item's paragraph goes on (micromark takes a lone tag as HTML in the item).
    if (HTML_LONE_TAG.test(line)) {
      scan.item.raw = htmlBlockAt(line, "none");
      scan.previous = "item";
    }
  } else {
    scan.item = null;
    scan.raw = fenceAt(line) || htmlBlockAt(line, scan.previous);
    scan.previous = scan.raw ? "none" : lineKind(line, indent, scan.previous);
  }
  return true;
}

// True when the raw block took the line; false when it ended before it.
function readRawLine(scan, line) {
  const verdict = scan.raw(line);
  if (verdict === "ended") {
    scan.raw = null;
    scan.previous = "none";
    return false;
  }
  if (verdict === "closed") scan.raw = null;
  return true;
}

function startsBlock(scan, line, listItem) {
  if (scan.item && scan.item.raw) return false; // its blank lines would end up in the code
  if (scan.blockHasList && listItem) return false;
  return !(scan.previous === "code" && LIST_MARKER.test(line));
}

// A line of the open list item, as its content and how far it is indented past the item's
// content column. It only matters whether it leaves a paragraph open, that the next
// unindented line may lazily continue; a fence or HTML block in the item leaves none.
function readItemLine(scan, content, depth) {
  const item = scan.item;
  if (content) item.empty = false;
  if (item.raw) {
    const verdict = item.raw(content);
    if (verdict !== "ended") {
      if (verdict === "closed" && depth <= 3) item.raw = null;
      scan.previous = "item";
      return;
    }
    item.raw = null;
  }
  if (depth >= 4) {
    if (scan.previous !== "item-text") scan.previous = "item"; // indented code, or more text
    return;
  }
  item.raw = fenceAt(content) || htmlBlockAt(content, scan.previous);
  const text = content && !item.raw && !ATX_HEADING.test(content) && !THEMATIC_BREAK.test(content);
  scan.previous = text ? "item-text" : "item";
}

function interruptsParagraph(line) {
  return (
    fenceAt(line) || ATX_HEADING.test(line) || THEMATIC_BREAK.test(line) || QUOTE.test(line) ||
    HTML_UNTIL_BLANK.test(line) || HTML_UNTIL_MARKER.some(([start]) => start.test(line))
  );
}

// What a top-level line leaves for the next one (see cutsOf).
function lineKind(line, indent, previous) {
  if (indent >= 4) return textOpen(previous) ? previous : "code";
  if (previous === "paragraph" && SETEXT_UNDERLINE.test(line)) return "none";
  if (previous === "quote-text" && HTML_LONE_TAG.test(line)) return "none"; // as micromark does
  if (ATX_HEADING.test(line) || THEMATIC_BREAK.test(line)) return "none";
  if (QUOTE.test(line)) return quoteKind(line.replace(QUOTE, ""));
  return previous === "quote-text" ? previous : "paragraph"; // a lazy line stays in the quote
}

function textOpen(previous) {
  return previous === "paragraph" || previous === "quote-text";
}

// A quoted line leaves a paragraph that an unquoted line may continue, unless it holds no text.
function quoteKind(content) {
  const text = content.trimStart();
  if (!text || fenceAt(text) || ATX_HEADING.test(text) || THEMATIC_BREAK.test(text)) return "none";
  return "quote-text";
}

// The list item the line starts, or null: { column } where its content starts, after the
// marker and 1-4 spaces (one, when it opens empty or with indented code), and its first
// line's { content, depth } as readItemLine takes them. An empty item, or one numbered other
// than 1, cannot interrupt a paragraph: there it is text ("-" a heading's underline).
function listItemAt(line, previous) {
  const match = LIST_MARKER.exec(line);
  if (!match || THEMATIC_BREAK.test(line)) return null;
  const [, indent, marker, spaces, content] = match;
  const empty = BLANK.test(content);
  if (!spaces && !empty) return null; // "-x", "1.x": no space after the marker
  const weak = empty || (marker.length > 1 && !/^1[.)]$/.test(marker));
  if (weak && (previous === "paragraph" || previous === "code")) return null;
  const markerEnd = indent.length + marker.length;
  const textColumn = columnsOf(spaces, markerEnd);
  const column = empty || textColumn - markerEnd > 4 ? markerEnd + 1 : textColumn;
  return { column, content: empty ? "" : content, depth: textColumn - column };
}

// The column after the line's leading spaces and tabs (a tab stops at the next multiple of 4).
function columnsOf(line, column = 0) {
  for (const char of line) {
    if (char === " ") column += 1;
    else if (char === "\t") column += 4 - (column % 4);
    else break;
  }
  return column;
}

// A raw block's verdict on each next line: "inside" it, its last line ("closed"), or no longer
// part of it ("ended": the line is read afresh).
function fenceAt(line) {
  const match = FENCE.exec(line);
  if (!match) return null;
  const [, marker, info] = match;
  if (marker[0] === "`" && info.includes("`")) return null; // inline code, not a fence
  const closer = new RegExp(`^ {0,3}${marker[0]}{${marker.length},}[ \\t\\r]*$`);
  return (next) => (closer.test(next) ? "closed" : "inside");
}

function htmlBlockAt(line, previous) {
  for (const [start, end] of HTML_UNTIL_MARKER) {
    if (!start.test(line)) continue;
    if (end.test(line)) return () => "ended"; // closed on its own line
    return (next) => (end.test(next) ? "closed" : "inside");
  }
  const loneTag = !textOpen(previous) && previous !== "item-text" && HTML_LONE_TAG.test(line);
  if (HTML_UNTIL_BLANK.test(line) || loneTag) return (next) => (BLANK.test(next) ? "ended" : "inside");
  return null;
}
